import Foundation
@testable import FuzzProperties
import Scheduler
import Testing

/// Every input the fuzzers ever broke (Fuzz/Regressions) and every seed (Fuzz/Corpus), replayed
/// through the same properties the fuzz targets check, without a fuzzer.
@Suite struct FuzzRegressionTests {
    static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func inputs(_ folder: String, _ surface: InputSurface) -> [URL] {
        let directory = fuzz.appendingPathComponent(folder).appendingPathComponent(surface.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: InputSurface.allCases)
    func regressionsAndSeedsHold(_ surface: InputSurface) throws {
        let regressions = Self.inputs("Regressions", surface)
        let seeds = Self.inputs("Corpus", surface)
        #expect(!seeds.isEmpty, "no seed corpus for \(surface.rawValue)")
        for url in regressions + seeds {
            let data = try [UInt8](Data(contentsOf: url))
            if let failure = surface.check(data) {
                Issue.record("\(surface.rawValue) \(url.lastPathComponent): \(failure)")
            }
        }
    }

    /// The checkers are independent and can fail: the minute walk finds known instants, and a type
    /// whose encoding drifts breaks the round-trip property.
    @Test func theCheckersCanFail() throws {
        let wednesday = try CronParser.parse("0 2 * * WED").fieldSets
        #expect(CronProperty.bruteForceNext(wednesday, after: 1_798_761_600, horizon: 86_400 * 10) == 1_799_200_800)  // 2027-01-06T02:00Z
        let leap = try CronParser.parse("0 0 29 2 *").fieldSets
        #expect(CronProperty.bruteForceNext(leap, after: 1_798_761_600, horizon: CronSchedule.horizonSeconds) == 1_835_395_200)  // 2028-02-29
        #expect(ModelProperty.roundTrip(Drifting.self, Data(#"{"n":1}"#.utf8)) != nil)
        #expect(ModelProperty.roundTrip(Drifting.self, Data(#"not json"#.utf8)) == nil)
    }

    /// Encodes one more than it decoded.
    struct Drifting: Codable, Equatable {
        var n: Int
        enum CodingKeys: String, CodingKey { case n }
        init(from decoder: any Decoder) throws { n = try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .n) }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(n + 1, forKey: .n)
        }
    }
}
