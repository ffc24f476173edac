import BenchmarkFixtures
import Foundation
import JobJournal

// Writes the soak's start-up journal: RECORDS lifecycle records over 1,000 schedules, leaving 1,000
// open runs, whose templates `template-W` are spread over SUBSCRIPTIONS subscriptions as the soak's
// simulator scenario seeds them. Usage: JournalFill DIRECTORY RECORDS SUBSCRIPTIONS
let arguments = CommandLine.arguments
guard arguments.count == 4, let records = Int(arguments[2]), let subscriptions = Int(arguments[3]) else {
    FileHandle.standardError.write(Data("usage: JournalFill DIRECTORY RECORDS SUBSCRIPTIONS\n".utf8))
    exit(2)
}
let journal = try Journal(directory: arguments[1], options: JournalOptions(maxSegments: 1000))
await fillJournal(journal, records: records, schedules: 1000) { w in
    BuildTarget(subscriptionID: String(format: "%08d-0000-0000-0000-000000000000", w % subscriptions), resourceGroup: "images", template: "template-\(w)")
}
await journal.close()
print("wrote \(records) records, 1000 open runs, to \(arguments[1])")
