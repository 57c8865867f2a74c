import Foundation
import Testing

/// The `depot` binary built beside this test bundle.
public let depotBinary: String = {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    // The test bundle is .build/<config>/depotPackageTests.xctest; depot sits beside it.
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent("depot").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return exe.deletingLastPathComponent().appendingPathComponent("depot").path
}()

/// The `depot-worker` binary beside `depotBinary`: the processors' executable.
public let depotWorkerBinary: String = {
    ((depotBinary as NSString).deletingLastPathComponent as NSString).appendingPathComponent("depot-worker")
}()

extension Tag {
    /// Tests that start daemons, worker processes or other programs, or wait on real time:
    /// `make test-fast` leaves them out.
    @Tag public static var slow: Self
}

/// Set by `make test-fast` (DEPOT_FAST_TESTS=1): the tests tagged `.slow` are skipped.
public let onlyFastTests = ProcessInfo.processInfo.environment["DEPOT_FAST_TESTS"] == "1"

extension Trait where Self == ConditionTrait {
    /// Marks a slow test or suite (with `.tags(.slow)`): skipped by `make test-fast`.
    public static var slowTest: Self { .disabled(if: onlyFastTests, "slow: `make test-fast` leaves it out") }
}
