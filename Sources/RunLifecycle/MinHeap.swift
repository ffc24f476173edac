/// A binary min-heap: the slot timer keeps every schedule's next slot in one, so the daemon sleeps
/// until the head and nothing else wakes it; the simulation keeps its event queue in another.
public struct MinHeap<Element: Comparable>: Sendable where Element: Sendable {
    private var heap: [Element] = []

    public init() {}

    public var first: Element? { heap.first }
    public var count: Int { heap.count }
    /// Every element, in heap order.
    public var elements: [Element] { heap }

    public mutating func push(_ element: Element) {
        heap.append(element)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child] < heap[parent] else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    public mutating func pop() -> Element? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, heap[left] < heap[smallest] { smallest = left }
            if right < heap.count, heap[right] < heap[smallest] { smallest = right }
            guard smallest != parent else { return top }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }

    /// Drops every element that matches; what is left is sorted, which is a heap again.
    public mutating func removeAll(where shouldBeRemoved: (Element) -> Bool) {
        heap.removeAll(where: shouldBeRemoved)
        heap.sort()
    }
}
