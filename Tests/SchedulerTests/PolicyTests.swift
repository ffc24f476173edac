import Foundation
import Testing
@testable import Scheduler

@Suite struct PolicyTests {
    let hourly = try! CronParser.parse("0 * * * *")

    @Test func onlyTheLatestMissedSlotWithinTheWindow() {
        let now = instant("2027-01-01T10:20:00Z")
        let slot = SchedulePolicy.latestMissedSlot(hourly, lastSlot: instant("2027-01-01T05:00:00Z"), firstSeen: instant("2026-01-01T00:00:00Z"),
                                                   now: now, window: .seconds(12 * 3600))
        #expect(slot == instant("2027-01-01T10:00:00Z"))
        // Outside the window: nothing.
        #expect(SchedulePolicy.latestMissedSlot(hourly, lastSlot: nil, firstSeen: .distantPast, now: now, window: .seconds(600)) == nil)
        // At the edge of the window: included.
        #expect(SchedulePolicy.latestMissedSlot(hourly, lastSlot: nil, firstSeen: .distantPast, now: now, window: .seconds(1200)) == instant("2027-01-01T10:00:00Z"))
        // Already run: nothing missed.
        #expect(SchedulePolicy.latestMissedSlot(hourly, lastSlot: instant("2027-01-01T10:00:00Z"), firstSeen: .distantPast, now: now, window: .seconds(43200)) == nil)
        // Slots before the schedule first appeared never count.
        #expect(SchedulePolicy.latestMissedSlot(hourly, lastSlot: nil, firstSeen: instant("2027-01-01T10:10:00Z"), now: now, window: .seconds(43200)) == nil)
    }

    @Test func overlap() {
        #expect(SchedulePolicy.overlap(.skip, buildRunning: false, slotPending: false) == .start)
        #expect(SchedulePolicy.overlap(.replace, buildRunning: false, slotPending: false) == .start)
        guard case .skip = SchedulePolicy.overlap(.skip, buildRunning: true, slotPending: false) else { Issue.record("skip"); return }
        #expect(SchedulePolicy.overlap(.queue, buildRunning: true, slotPending: false) == .queue)
        guard case .skip = SchedulePolicy.overlap(.queue, buildRunning: true, slotPending: true) else { Issue.record("queue full"); return }
        #expect(SchedulePolicy.overlap(.replace, buildRunning: true, slotPending: false) == .replaceRunning)
    }
}
