import FuzzProperties
import Foundation

/// The surface to fuzz, from `FUZZ_TARGET` (cron, config, journal, models): one instrumented binary
/// serves every target, so `make fuzz` builds once.
let surface: InputSurface = {
    guard let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"], let surface = InputSurface(rawValue: name) else {
        fatalError("set FUZZ_TARGET to one of \(InputSurface.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return surface
}()

/// libFuzzer's entry point: a broken property aborts, so the fuzzer saves the input as a crasher.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let data = start.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
    if let failure = surface.check(data) {
        fatalError("property broken: \(failure)")
    }
    return 0
}
