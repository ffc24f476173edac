import Foundation
import Testing

/// `imagebuildd demo` (what `make demo` runs), fast-forwarded.
@Suite struct DemoTests {
    @Test func theDemoShowsSuccessFailureAndATimeoutCancel() async throws {
        let result = try await imagebuildd("demo", "--speed", "10")
        #expect(result.status == .exited(0), "\(result.stderr)")
        let out = result.stdout
        #expect(out.contains("ubuntu-nightly (ubuntu-2204-golden): run finished: succeeded"))
        #expect(out.contains("windows-nightly (windows-2022-golden): run finished: failed: PowerShell customizer"))
        #expect(out.contains("rhel-nightly (rhel-9-golden): build timeout reached; cancelling"))
        #expect(out.contains("rhel-nightly  rhel-9-golden  timedOut  Canceled  cancel-requested"))
        #expect(out.contains("ubuntu-nightly  ubuntu-2204-golden  succeeded  Succeeded  /subscriptions/"))
    }
}
