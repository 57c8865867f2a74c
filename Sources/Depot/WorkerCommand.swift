import ArgumentParser
import DepotCore
import DepotProcess

/// `depot worker`: a worker process of `depot serve` (hidden). It sets its own limits, then
/// takes jobs as JSON lines on stdin and answers on stdout until its input ends.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run processing jobs sent by `depot serve` (internal).",
        shouldDisplay: false)

    @Option(name: .long, help: "Address-space limit in bytes (RLIMIT_AS; 0: none).")
    var memoryLimit: Int64 = 0

    @Option(name: .long, help: "CPU seconds per job (RLIMIT_CPU; 0: none).")
    var cpuSeconds: Int = 0

    @Option(name: .long, help: "Open-file limit (RLIMIT_NOFILE).")
    var openFiles: Int = 256

    @Option(name: .long, help: "Niceness to add.")
    var nice: Int = 10

    func run() throws {
        let limits = WorkerLimits(addressSpaceBytes: memoryLimit, cpuSecondsPerJob: cpuSeconds, openFiles: openFiles, nice: nice)
        let registry = ProcessorRegistry.standard(testProcessors: TestProcessor.enabledByEnvironment)
        let status = WorkerMain.run(limits: limits, registry: registry)
        if status != 0 { throw ExitCode(status) }
    }
}
