/// A zone's UTC offsets as the system's tz data stores them: a TZif file (RFC 8536, versions 1–4).
///
/// Read directly rather than through Foundation's `TimeZone`, whose Linux implementation needs
/// ICU and its own bundled copy of the tz database (34 MB in the binary); this keeps the daemon on
/// the host's tzdata, which is what `date`, `zdump` and systemd use.
struct TZif: Equatable {
    /// Instants (Unix seconds) at which a new local time type begins, ascending.
    let transitions: [Int]
    /// The UTC offset (seconds east) that begins at each transition.
    let offsetsAfter: [Int]
    /// The offset before the first transition (time type 0), or for all time if there are none.
    let initialOffset: Int
    /// The rule after the last transition (the footer's TZ string), if the file has one.
    let rule: PosixTZ?

    /// Parses a whole TZif file; for version 2 and later the 64-bit block and the footer are used.
    static func parse(_ bytes: [UInt8]) throws(TZifError) -> TZif {
        var reader = Reader(bytes: bytes)
        let v1 = try reader.header()
        guard v1.version >= 2 else { return try reader.body(v1, timeSize: 4, footer: nil) }
        try reader.skip(v1.bodySize(timeSize: 4))
        let v2 = try reader.header()
        let bodyStart = reader.position
        try reader.skip(v2.bodySize(timeSize: 8))
        let footer = try reader.footer()
        reader.position = bodyStart
        return try reader.body(v2, timeSize: 8, footer: footer.isEmpty ? nil : try PosixTZ.parse(footer))
    }

    /// The offset in force from `from`, and every change of offset in (from, to], ascending.
    /// Changes of name or DST flag alone are not changes: only the offset matters to a schedule.
    func offsetChanges(from: Int, to: Int) -> (initial: Int, changes: [(at: Int, offset: Int)]) {
        var events: [(at: Int, offset: Int)] = Array(zip(transitions, offsetsAfter).map { (at: $0, offset: $1) })
        var current = initialOffset
        if let rule {
            func year(_ instant: Int) -> Int { CivilCalendar.date(days: CivilCalendar.floorDiv(instant, 86_400)).year }
            // From the last explicit transition's year, so the rule's state entering `from` is its own.
            let firstYear = transitions.last.map(year) ?? year(from) - 1
            let generated = rule.events(years: firstYear...max(firstYear, year(to)))
                .filter { $0.at > (transitions.last ?? Int.min) }
            if transitions.isEmpty, let first = generated.first {
                current = first.offset == rule.standard ? (rule.daylight?.offset ?? rule.standard) : rule.standard
            } else if transitions.isEmpty {
                current = rule.standard
            }
            events.append(contentsOf: generated)
        }
        // Equal instants keep the later event: a rule whose year ends where the next begins (DST all year).
        var index = 0
        while index < events.count, events[index].at <= from {
            current = events[index].offset
            index += 1
        }
        let initial = current
        var changes: [(at: Int, offset: Int)] = []
        while index < events.count, events[index].at <= to {
            var event = events[index]
            while index + 1 < events.count, events[index + 1].at == event.at {
                index += 1
                event = events[index]
            }
            if event.offset != current {
                changes.append(event)
                current = event.offset
            }
            index += 1
        }
        return (initial, changes)
    }

    /// A TZif header: the version and the six counts that size the data block.
    struct Header {
        let version: Int
        let isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt: Int

        func bodySize(timeSize: Int) -> Int {
            timecnt * timeSize + timecnt + typecnt * 6 + charcnt + leapcnt * (timeSize + 4) + isstdcnt + isutcnt
        }
    }

    /// A cursor over the file's bytes; every read is bounds-checked.
    struct Reader {
        let bytes: [UInt8]
        var position = 0

        mutating func skip(_ count: Int) throws(TZifError) {
            guard count >= 0, bytes.count - position >= count else { throw .truncated(at: position) }
            position += count
        }

        mutating func integer(size: Int) throws(TZifError) -> Int {
            guard bytes.count - position >= size else { throw .truncated(at: position) }
            var value: UInt64 = 0
            for byte in bytes[position..<(position + size)] { value = value << 8 | UInt64(byte) }
            position += size
            // Two's complement of the stored width.
            return size == 8 ? Int(Int64(bitPattern: value)) : Int(Int32(bitPattern: UInt32(truncatingIfNeeded: value)))
        }

        mutating func header() throws(TZifError) -> Header {
            guard bytes.count - position >= 44 else { throw .truncated(at: position) }
            guard bytes[position..<(position + 4)].elementsEqual(Array("TZif".utf8)) else { throw .notTZif }
            let versionByte = bytes[position + 4]
            let version: Int
            switch versionByte {
            case 0: version = 1
            case UInt8(ascii: "2"), UInt8(ascii: "3"), UInt8(ascii: "4"): version = Int(versionByte - UInt8(ascii: "0"))
            default: throw .unsupportedVersion(versionByte)
            }
            position += 20
            var counts: [Int] = []
            for _ in 0..<6 {
                let count = try integer(size: 4)
                // The largest real file has a few thousand entries; this also keeps sizes from overflowing.
                guard (0...1_000_000).contains(count) else { throw .badCount(at: position - 4) }
                counts.append(count)
            }
            let header = Header(version: version, isutcnt: counts[0], isstdcnt: counts[1], leapcnt: counts[2],
                                timecnt: counts[3], typecnt: counts[4], charcnt: counts[5])
            guard header.typecnt > 0, header.charcnt > 0,
                  header.isutcnt == 0 || header.isutcnt == header.typecnt,
                  header.isstdcnt == 0 || header.isstdcnt == header.typecnt
            else { throw .badCount(at: position - 24) }
            return header
        }

        mutating func body(_ header: Header, timeSize: Int, footer: PosixTZ?) throws(TZifError) -> TZif {
            var transitions: [Int] = []
            transitions.reserveCapacity(header.timecnt)
            for _ in 0..<header.timecnt {
                let at = try integer(size: timeSize)
                if let last = transitions.last, at <= last { throw .unordered(at: position - timeSize) }
                transitions.append(at)
            }
            var indices: [Int] = []
            for _ in 0..<header.timecnt {
                let index = try integer(size: 1)
                guard index < header.typecnt else { throw .badTypeIndex(at: position - 1) }
                indices.append(index)
            }
            var offsets: [Int] = []
            for _ in 0..<header.typecnt {
                let offset = try integer(size: 4)
                // RFC 8536: utoff must not be -2^31, and real offsets stay within a day.
                guard (-89_999...93_599).contains(offset) else { throw .badOffset(at: position - 4) }
                try skip(2)  // is_dst, desigidx: names and flags do not move a schedule
                offsets.append(offset)
            }
            try skip(header.charcnt + header.leapcnt * (timeSize + 4) + header.isstdcnt + header.isutcnt)
            return TZif(transitions: transitions, offsetsAfter: indices.map { offsets[$0] },
                        initialOffset: offsets[0], rule: footer)
        }

        /// The footer: a newline, the TZ string (possibly empty), a newline.
        mutating func footer() throws(TZifError) -> String {
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\n") else { throw .badFooter }
            guard let end = bytes[(position + 1)...].firstIndex(of: UInt8(ascii: "\n")) else { throw .badFooter }
            let text = bytes[(position + 1)..<end]
            position = end + 1
            guard text.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { throw .badFooter }
            return String(decoding: text, as: UTF8.self)
        }
    }
}

/// Why a TZif file could not be read.
enum TZifError: Error, Equatable, CustomStringConvertible {
    case notTZif
    case unsupportedVersion(UInt8)
    case truncated(at: Int)
    case badCount(at: Int)
    case unordered(at: Int)
    case badTypeIndex(at: Int)
    case badOffset(at: Int)
    case badFooter
    case badRule(String)

    var description: String {
        switch self {
        case .notTZif: "not a TZif file (no \"TZif\" magic)"
        case .unsupportedVersion(let byte): "unsupported TZif version byte \(byte)"
        case .truncated(let at): "truncated at byte \(at)"
        case .badCount(let at): "impossible counts in the header at byte \(at)"
        case .unordered(let at): "transition times not ascending at byte \(at)"
        case .badTypeIndex(let at): "transition names a missing time type at byte \(at)"
        case .badOffset(let at): "UTC offset out of range at byte \(at)"
        case .badFooter: "missing or malformed footer"
        case .badRule(let why): "footer TZ string: \(why)"
        }
    }
}
