import Foundation
import Subprocess
import SystemPackage

/// What a run of the real `imagebuildd` binary printed, and how it ended.
struct Output {
    var status: TerminationStatus
    var stdout: String
    var stderr: String
}

/// The built binary, next to the test bundle in the products directory.
let binary = FilePath((((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    as NSString).deletingLastPathComponent + "/imagebuildd")

/// Runs `imagebuildd` with `arguments`, without the STATE_DIRECTORY systemd may have set for us.
func imagebuildd(_ arguments: String...) async throws -> Output {
    let result = try await Subprocess.run(.path(binary), arguments: Arguments(arguments), environment: .inherit.updating(["STATE_DIRECTORY": nil]),
                                          output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
    return Output(status: result.terminationStatus, stdout: result.standardOutput, stderr: result.standardError)
}
