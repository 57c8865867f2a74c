import ArgumentParser
import DepotCore
import DepotProcess
import Foundation

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

    @OptionGroup var rootOptions: RootOptions

    func run() throws {
        let limits = WorkerLimits(addressSpaceBytes: memoryLimit, cpuSecondsPerJob: cpuSeconds, openFiles: openFiles, nice: nice)
        // The sections processors read from the daemon's config ([generate], [speech]); the
        // defaults (the builtin engine, no speech endpoint) when the worker is started without
        // a root (tests of the protocol).
        var generate = GenerateProcessor()
        var speech = DepotConfig.defaults[SpeechSettings.self]
        if rootOptions.root != nil || rootOptions.config != nil, let context = try? Context.resolve(rootOptions) {
            generate = context.generateProcessor()
            speech = context.config[SpeechSettings.self]
        }
        let registry = ProcessorRegistry.standard(testProcessors: TestProcessor.enabledByEnvironment, generate: generate,
                                                  speech: speech)
        let status = WorkerMain.run(limits: limits, registry: registry)
        if status != 0 { throw ExitCode(status) }
    }
}
