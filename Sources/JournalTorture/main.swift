import Foundation  // a test child, not shipped: the full Foundation costs nothing that matters here
import JobJournal

// Crash-test child: `journal-torture append|compact DIR`. Prints "ack <seq> <schedule> <slot>
// <open|done>" after each append has returned, so the parent knows exactly what was acknowledged
// when it SIGKILLs this process at a random moment.
let arguments = CommandLine.arguments
guard arguments.count == 3, ["append", "compact"].contains(arguments[1]) else {
    FileHandle.standardError.write(Data("usage: journal-torture append|compact DIR\n".utf8))
    exit(2)
}
let mode = arguments[1]
let journal = try Journal(directory: arguments[2], options: JournalOptions(segmentSize: 16 << 10, maxSegments: 1000, historyLimit: 1 << 30))
let pid = getpid()

func ack(_ record: JournalRecord, _ kind: String) {
    let key = record.event.slot!
    // One write(2) per line: atomic on a pipe, and nothing sits in a buffer when SIGKILL lands.
    FileHandle.standardOutput.write(Data("ack \(record.seq) \(key.schedule) \(key.slotMillis) \(kind)\n".utf8))
}

let target = BuildTarget(subscriptionID: "00000000-0000-0000-0000-000000000000", resourceGroup: "images", template: "golden")
try await withThrowingTaskGroup(of: Void.self) { group in
    for writer in 0..<4 {
        group.addTask {
            var n: Int64 = 0
            while true {
                n += 1
                let key = SlotKey(schedule: "p\(pid)-w\(writer)", slotMillis: n * 60_000)
                ack(try await journal.append(.slotDue(key, target: target)), "open")
                if mode == "compact", n % 3 != 0 { continue }
                ack(try await journal.append(.finished(key, outcome: .succeeded, message: nil)), "done")
            }
        }
    }
    if mode == "compact" {
        group.addTask {
            while true {
                try await journal.compact()
                await Task.yield()
            }
        }
    }
    try await group.next()
}
