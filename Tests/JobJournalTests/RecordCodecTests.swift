import Foundation
import Testing
@testable import JobJournal

@Suite struct RecordCodecTests {
    @Test func everyRecordTypeRoundTripsThroughThePayload() throws {
        for (n, event) in everyEvent().enumerated() {
            let record = JournalRecord(seq: UInt64(n + 1), at: Date(journalMillis: 1_800_000_000_123 + Int64(n)), event: event)
            let payload = RecordCodec.encode(record)
            #expect(try RecordCodec.decode(payload) == record, "\(event.typeName)")
            // The payload is ordinary JSON that other tools (jq, Foundation) read.
            let object = try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any]
            #expect(object?["type"] as? String == event.typeName)
            #expect(object?["seq"] as? Int == n + 1)
        }
    }

    @Test func everyRecordTypeRoundTripsThroughTheDisk() async throws {
        let dir = TemporaryDirectory()
        let events = everyEvent()
        var written: [JournalRecord] = []
        do {
            let journal = try Journal(directory: dir.journal)
            for event in events { written.append(try await journal.append(event)) }
            await journal.close()
        }
        var read: [JournalRecord] = []
        _ = try JournalInspection.verify(directory: dir.journal) { read.append($0.record) }
        #expect(read == written)
        #expect(Set(read.map(\.event.typeName)).count == 17)
    }

    @Test func unknownMembersAreIgnoredButUnknownTypesAreNot() throws {
        let future = Array(#"{"seq":3,"at":5,"type":"slot-queued","schedule":"a","slot":60000,"new":{"x":[1,2.5e3,true,null]}}"#.utf8)
        #expect(try RecordCodec.decode(future).event == .slotQueued(SlotKey(schedule: "a", slotMillis: 60000)))
        let alien = Array(#"{"seq":3,"at":5,"type":"slot-teleported","schedule":"a","slot":1}"#.utf8)
        #expect(throws: RecordDecodingError.self) { try RecordCodec.decode(alien) }
        let missing = Array(#"{"seq":3,"at":5,"type":"finished","schedule":"a","slot":1}"#.utf8)
        #expect { try RecordCodec.decode(missing) } throws: { "\($0)".contains("outcome") }
        let trailing = Array(#"{"seq":3,"at":5,"type":"slot-queued","schedule":"a","slot":1} x"#.utf8)
        #expect(throws: JSONReaderError.self) { try RecordCodec.decode(trailing) }
    }
}
