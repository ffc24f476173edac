import Foundation
import Testing
@testable import Scheduler

/// The TZif reader against the system's own reader of the same files, `zdump`, for every zone
/// tzdata lists, and against files `zic` compiles from rules written here.
@Suite struct ZoneDataTests {
    /// Every offset change zdump reports is a transition of ours, at the same second and to the
    /// same offset, and we have no others: every zone from 1970 to 2039 (zdump searches, so a wider
    /// window costs minutes), and zones with unusual rules over our whole span, 1900 to 2199.
    @Test func everyZoneAgreesWithZdump() throws {
        let zones = try systemZones()
        #expect(zones.count > 300)
        try compare(zones, years: 1970...2039)
        try compare(["Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "America/Sao_Paulo",
                     "Europe/Dublin", "Africa/Casablanca", "Pacific/Chatham", "America/Santiago", "Asia/Tehran"], years: 1900...2199)
    }

    func compare(_ zones: [String], years: ClosedRange<Int>) throws {
        let from = CivilCalendar.days(year: years.lowerBound, month: 1, day: 1) * 86_400
        let to = CivilCalendar.days(year: years.upperBound + 1, month: 1, day: 1) * 86_400
        let expected = try zdumpChanges(zones, years: years)
        for zone in zones {
            let timeline = try #require(ZoneTimeline.named(zone), "\(zone) did not load")
            let ours = zip(timeline.transitions, timeline.offsets.dropFirst()).map { Change(at: $0, offset: $1) }
            #expect(ours.filter { $0.at > from && $0.at < to } == expected[zone, default: []], "\(zone)")
        }
    }

    @Test func knownOffsets() throws {
        let berlin = try #require(ZoneTimeline.named("Europe/Berlin"))
        #expect(berlin.offset(at: 1_806_195_599) == 3_600)  // 2027-03-28T00:59:59Z
        #expect(berlin.offset(at: 1_806_195_600) == 7_200)  // 2027-03-28T01:00:00Z
        // 2152 is long past the file's explicit transitions: the footer's rule gives it.
        #expect(berlin.offset(at: 5_752_166_400) == 7_200)  // 2152-04-12
        #expect(berlin.offset(at: 5_744_304_000) == 3_600)  // 2152-01-12
        let kolkata = try #require(ZoneTimeline.named("Asia/Kolkata"))
        #expect(kolkata.offset(at: 1_800_000_000) == 19_800)
        #expect(ZoneTimeline.named("UTC")?.offset(at: 0) == 0)
    }

    @Test func identifiersStayInsideTheZoneDirectory() {
        for bad in ["", "../../etc/passwd", "Europe/../UTC", "/etc/localtime", "Europe//Berlin", "Mars/Olympus_Mons", "Europe/Berlin\u{0}", "Europe\\Berlin", "Europe/"] {
            #expect(ZoneTimeline.named(bad) == nil, "\(bad)")
        }
        // A directory, and a file that is not TZif.
        #expect(ZoneTimeline.named("Europe") == nil)
        #expect(ZoneTimeline.named("zone1970.tab") == nil)
    }

    /// Rules zic compiles: southern hemisphere, `Jn` and zero-based days, a rule time past 24h,
    /// DST all year, a half-hour DST, and a slim file (`-b slim`: everything after 2037 from the footer).
    @Test func compiledRulesMatchZdump() throws {
        let source = """
        Rule Sud 2000 max - Oct Sun>=1 2:00 1:00 -
        Rule Sud 2001 max - Apr Sun>=1 3:00 0 -
        Zone Test/South 10:00 Sud AE%sT
        Zone Test/Julian -3:00 - XXX 2000
                         -3:00 Jul X%sX
        Rule Jul 2000 max - Mar 1 0:00 1:00 D
        Rule Jul 2000 max - Nov 1 0:00 0 S
        Zone Test/Late -5:00 Late E%sT
        Rule Late 2001 max - Mar lastSun 25:00 1:00 D
        Rule Late 2001 max - Oct lastSun 26:00 0 S
        Zone Test/AllYear -5:00 - EST 2010
                          -4:00 - EDT
        Zone Test/Half 10:30 - +1030 2001
                       10:30 Half +1030/+11
        Rule Half 2001 max - Oct Sun>=1 2:00 0:30 -
        Rule Half 2002 max - Apr Sun>=1 2:00 0 -

        """
        for flavour in ["fat", "slim"] {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tzif-\(flavour)-\(getpid())")
            defer { try? FileManager.default.removeItem(at: directory) }
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let sourceFile = directory.appendingPathComponent("rules.zi")
            try source.write(to: sourceFile, atomically: true, encoding: .utf8)
            try run("/usr/sbin/zic", ["-b", flavour, "-d", directory.path, sourceFile.path])
            let zones = ["Test/South", "Test/Julian", "Test/Late", "Test/AllYear", "Test/Half"]
            let expected = try zdumpChanges(zones, directory: directory.path)
            for zone in zones {
                let data = try [UInt8](Data(contentsOf: directory.appendingPathComponent(zone)))
                let timeline = ZoneTimeline(identifier: zone, tzif: try TZif.parse(data))
                let ours = zip(timeline.transitions, timeline.offsets.dropFirst()).map { Change(at: $0, offset: $1) }
                #expect(ours == expected[zone, default: []], "\(flavour) \(zone)")
                #expect(!ours.isEmpty, "\(flavour) \(zone)")
            }
        }
    }

    /// Without tzdata (a minimal container), UTC still works and every other zone is unknown.
    @Test func utcNeedsNoTzdata() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("no-tzdata-\(getpid())")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(try ZoneTimeline.load("Etc/UTC", from: empty.path).offset(at: 1_800_000_000) == 0)
        #expect(try ZoneTimeline.load("UTC", from: empty.path).transitions.isEmpty)
        #expect(throws: (any Error).self) { try ZoneTimeline.load("Europe/Berlin", from: empty.path) }
    }

    @Test func damagedFilesAreRefusedNotTrusted() throws {
        let berlin = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "/usr/share/zoneinfo/Europe/Berlin")))
        #expect(throws: TZifError.notTZif) { try TZif.parse(Array("TZiX".utf8) + berlin.dropFirst(4)) }
        for cut in [0, 10, 44, 100, berlin.count / 2, berlin.count - 2] {
            #expect(throws: TZifError.self) { try TZif.parse(Array(berlin.prefix(cut))) }
        }
        var badVersion = berlin
        badVersion[4] = UInt8(ascii: "9")
        #expect(throws: TZifError.unsupportedVersion(UInt8(ascii: "9"))) { try TZif.parse(badVersion) }
        #expect(throws: TZifError.self) { try PosixTZ.parse("CET-1CEST,M3.5.0,M13.5.0/3") }
        #expect(throws: TZifError.self) { try PosixTZ.parse("CE-1") }
        #expect(throws: TZifError.self) { try PosixTZ.parse("CET-1CEST,M3.5.0") }
        #expect(try PosixTZ.parse("<+0330>-3:30") == PosixTZ(standard: 12_600, daylight: nil))
        #expect(try PosixTZ.parse("EST5EDT").daylight?.offset == -14_400)
    }

    // MARK: zdump

    struct Change: Equatable, CustomStringConvertible {
        let at: Int
        let offset: Int
        var description: String { "\(Date(timeIntervalSince1970: Double(at))) → \(offset)" }
    }

    /// Zones named in tzdata's own list (`tzdata.zi`), links included.
    func systemZones() throws -> [String] {
        let text = try String(contentsOfFile: "/usr/share/zoneinfo/tzdata.zi", encoding: .utf8)
        return text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            if fields.first == "Z", fields.count > 1 { return String(fields[1]) }
            if fields.first == "L", fields.count > 2 { return String(fields[2]) }
            return nil
        }.sorted()
    }

    /// Each zone's changes of UTC offset in 1900…2199 as zdump prints them.
    func zdumpChanges(_ zones: [String], years: ClosedRange<Int> = 1900...2199, directory: String? = nil) throws -> [String: [Change]] {
        let output = try run("/usr/bin/zdump", ["-v", "-c", "\(years.lowerBound),\(years.upperBound + 1)"] + zones.map { zone in directory.map { "\($0)/\(zone)" } ?? zone })
        var changes: [String: [Change]] = [:]
        var last: [String: Int] = [:]
        for line in output.split(separator: "\n") {
            // "Zone  Sun Mar 29 01:00:00 2026 UT = Sun Mar 29 03:00:00 2026 CEST isdst=1 gmtoff=7200"
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 8, let equals = parts.firstIndex(of: "="), parts[equals - 1] == "UT",
                  let offsetField = parts.last, offsetField.hasPrefix("gmtoff="), let offset = Int(offsetField.dropFirst(7)) else { continue }
            var zone = String(parts[0])
            if let directory { zone = String(zone.dropFirst(directory.count + 1)) }
            guard let at = utcSeconds(parts[2], parts[3], parts[4], parts[5]) else { continue }
            // zdump prints each transition as its last second before and its first second after.
            if let previous = last[zone], previous != offset, !(changes[zone]?.last?.at == at) {
                changes[zone, default: []].append(Change(at: at, offset: offset))
            }
            last[zone] = offset
        }
        // Changes exactly at the window's edges are not ours to compare.
        let from = CivilCalendar.days(year: years.lowerBound, month: 1, day: 1) * 86_400
        let to = CivilCalendar.days(year: years.upperBound + 1, month: 1, day: 1) * 86_400
        return changes.mapValues { $0.filter { $0.at > from && $0.at < to } }
    }

    /// zdump's `Mar 29 01:00:00 2026` in Unix seconds (DateFormatter is too slow for 400,000 lines).
    func utcSeconds(_ month: Substring, _ day: Substring, _ time: Substring, _ year: Substring) -> Int? {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let clock = time.split(separator: ":").compactMap { Int($0) }
        guard let m = months.firstIndex(of: String(month)), let d = Int(day), let y = Int(year), clock.count == 3 else { return nil }
        return CivilCalendar.days(year: y, month: m + 1, day: d) * 86_400 + clock[0] * 3_600 + clock[1] * 60 + clock[2]
    }

    struct ToolFailed: Error { let tool: String; let stderr: String }

    @discardableResult
    func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        let errors = Pipe()
        process.standardOutput = pipe
        process.standardError = errors
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        let problem = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ToolFailed(tool: tool, stderr: problem) }
        return String(decoding: data, as: UTF8.self)
    }
}
