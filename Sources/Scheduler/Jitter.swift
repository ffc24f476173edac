import FoundationEssentials

/// Deterministic jitter: the delay for a slot is a stable function of (schedule name, slot), so a
/// restarted daemon fires the slot at the same instant it would have. Swift's `Hasher` is seeded
/// per process and would not survive a restart.
public enum Jitter {
    /// A delay in [0, maximum], at millisecond granularity.
    public static func delay(schedule: String, slot: Date, maximum: Duration) -> Duration {
        let maxMillis = maximum.components.seconds * 1000 + maximum.components.attoseconds / 1_000_000_000_000_000
        guard maxMillis > 0 else { return .zero }
        let slotSeconds = Int64((slot.timeIntervalSince1970).rounded(.down))
        let hash = stableHash(schedule: schedule, slotSeconds: slotSeconds)
        return .milliseconds(Int64(hash % UInt64(maxMillis + 1)))
    }

    /// FNV-1a over the name, a separator and the slot, then a SplitMix64 finaliser so that
    /// neighbouring slots spread over the whole range instead of differing in the low bits only.
    static func stableHash(schedule: String, slotSeconds: Int64) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ byte: UInt8) {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01B3
        }
        for byte in schedule.utf8 { mix(byte) }
        mix(0)
        withUnsafeBytes(of: slotSeconds.bigEndian) { for byte in $0 { mix(byte) } }
        var z = h &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
