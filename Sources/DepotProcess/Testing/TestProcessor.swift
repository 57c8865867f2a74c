import DepotCore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Misbehaves on purpose, to prove that a worker's crash, hang or runaway allocation costs
/// only its job. Registered only when the worker runs with `DEPOT_TEST_PROCESSORS=1`, and
/// even then it only takes files of `TypeDetector.testMediaType`: those that start with
/// "DEPOT-TEST-", detected so only when the daemon asks for test markers (the daemon picks
/// processors by detected type, so the test processor has to have one). What follows the
/// marker says what to do:
///
/// - `DEPOT-TEST-CRASH`: dereferences a bad pointer (SIGSEGV);
/// - `DEPOT-TEST-ABORT`: calls abort() (SIGABRT);
/// - `DEPOT-TEST-LOOP`: spins forever (the wall-clock timeout or RLIMIT_CPU ends it);
/// - `DEPOT-TEST-GREEDY`: allocates and touches memory without bound (RLIMIT_AS ends it);
/// - `DEPOT-TEST-EXIT`: exits with status 3;
/// - `DEPOT-TEST-SLEEP <ms>`: sleeps, reporting progress, then processes the text normally;
/// - `DEPOT-TEST-BLOAT <MiB>`: allocates and touches that much memory and keeps it (as a
///   parser's heap that malloc never returns), then processes the text normally;
/// - `DEPOT-TEST-FAIL`: throws an error (the job fails without a crash), a permanent one;
/// - `DEPOT-TEST-FAIL-TRANSIENT`: throws an error that `ProcessorFailure.isTransient` calls
///   transient (as a full disk would be), so the job is retried.
///
/// Anything else (and SLEEP once it has slept) is read as plain text by `TextProcessor`.
public struct TestProcessor: Processor {
    public var choice: ProcessorChoice { .test }
    public let version = "1"
    public let artifactKinds = TextProcessor().artifactKinds
    static let marker = TypeDetector.testMarker
    /// What BLOAT keeps for the rest of the worker's life.
    static let kept = Mutex<[UInt]>([])

    /// Whether the test processors are enabled in this process's environment.
    public static var enabledByEnvironment: Bool { ProcessorChoices.testProcessorsEnabled }

    public init() {}

    /// The error FAIL and FAIL-TRANSIENT throw.
    struct Failure: Error, CustomStringConvertible {
        var description: String
        var transient: Bool
    }

    public func process(_ input: ProcessorInput) throws -> [ProducedArtifact] {
        let head = try ReadOnlyFile(path: input.path).read(at: 0, count: 64)
        let command = String(decoding: head.dropFirst(Self.marker.count), as: UTF8.self)
        if command.hasPrefix("CRASH") {
            input.progress(1, "crashing at \(wallClockNanoseconds())")
            let pointer = UnsafeMutablePointer<Int>(bitPattern: 8)!
            pointer.pointee = 42
        } else if command.hasPrefix("ABORT") {
            input.progress(1, "aborting at \(wallClockNanoseconds())")
            abort()
        } else if command.hasPrefix("LOOP") {
            input.progress(1, "looping")
            var x: UInt64 = 1
            while x != 0 { x = x &* 6364136223846793005 &+ 1442695040888963407 | 1 }
        } else if command.hasPrefix("GREEDY") {
            input.progress(1, "allocating")
            var hoard: [UnsafeMutableRawPointer] = []
            while true {
                // Swift's own allocator traps on failure, as most C libraries abort on it.
                guard let block = malloc(16 << 20) else {
                    writeStandardError("depot-test: Could not allocate memory\n")
                    abort()
                }
                memset(block, 1, 16 << 20)
                hoard.append(block)
            }
        } else if command.hasPrefix("EXIT") {
            exit(3)
        } else if command.hasPrefix("FAIL-TRANSIENT") {
            throw Failure(description: "the test processor was told to fail transiently", transient: true)
        } else if command.hasPrefix("FAIL") {
            throw Failure(description: "the test processor was told to fail", transient: false)
        } else if command.hasPrefix("BLOAT") {
            let digits = command.dropFirst(5).drop(while: { $0 == " " }).prefix(while: { $0.isNumber })
            let bytes = (Int(digits) ?? 64) << 20
            if let block = malloc(bytes) {
                memset(block, 1, bytes)
                Self.kept.withLock { $0.append(UInt(bitPattern: block)) }
            }
        } else if command.hasPrefix("SLEEP") {
            let digits = command.dropFirst(5).drop(while: { $0 == " " }).prefix(while: { $0.isNumber })
            let milliseconds = Int(digits) ?? 1000
            let steps = max(1, milliseconds / 100)
            for step in 0..<steps {
                usleep(UInt32(milliseconds * 1000 / steps))
                input.progress(step * 90 / steps, "sleeping")
            }
        }
        var text = input
        text.mediaType = "text/plain"
        return try TextProcessor().process(text).map { artifact in
            var a = artifact
            a.producer = name
            a.producerVersion = version
            return a
        }
    }
}
