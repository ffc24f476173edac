import Foundation

/// The next slot of every schedule, earliest first (a binary min-heap), so one timer serves them all:
/// the daemon sleeps until the head and nothing else wakes it.
struct SlotQueue: Sendable {
    struct Entry: Sendable {
        var fireAt: Date
        var slot: Date
        var schedule: Int
    }

    private var heap: [Entry] = []

    var first: Entry? { heap.first }
    var count: Int { heap.count }

    mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].fireAt < heap[parent].fireAt else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func pop() -> Entry? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].fireAt < heap[smallest].fireAt { smallest = left }
            if right < heap.count, heap[right].fireAt < heap[smallest].fireAt { smallest = right }
            guard smallest != parent else { return top }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
