// DepotWorker: the `depot-worker` executable — the processors (DepotProcess, with FFmpeg,
// poppler, cairo, libzip and libxml2) in a process of their own. `depot serve` starts it for
// jobs and `depot extract`/`render`/`generate --file` for one local file; it is never run by
// hand. The `depot` executable links none of those libraries: the daemon that holds the
// catalog, the store and the HTTP server never maps a parser.
import ArgumentParser
import DepotCore
import DepotGenerate
import DepotProcess
import Foundation

/// Sets its own limits, then takes jobs as JSON lines on stdin (`WorkerRequest`) and answers
/// on stdout (`WorkerMessage`) until its input ends.
@main
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "depot-worker",
        abstract: "Run processing jobs sent by `depot serve` (internal; one JSON line per job on stdin).")

    @Option(name: .long, help: "Address-space limit in bytes (RLIMIT_AS; 0: none).")
    var memoryLimit: Int64 = 0

    @Option(name: .long, help: "CPU seconds per job (RLIMIT_CPU; 0: none).")
    var cpuSeconds: Int = 0

    @Option(name: .long, help: "Open-file limit (RLIMIT_NOFILE).")
    var openFiles: Int = 256

    @Option(name: .long, help: "Niceness to add.")
    var nice: Int = 10

    @Option(name: .long, help: "The depot root whose config the processors read ([generate], [speech]).")
    var root: String?

    @Option(name: .long, help: "The config file (default: ROOT/depot.toml).")
    var config: String?

    func run() throws {
        let limits = WorkerLimits(addressSpaceBytes: memoryLimit, cpuSecondsPerJob: cpuSeconds, openFiles: openFiles, nice: nice)
        // The sections processors read from the daemon's config; the defaults (the builtin
        // engine, no speech endpoint) when the worker is started without a root or config.
        var generate = GenerateProcessor()
        var speech = SpeechSettings()
        let path = config ?? root.map { RootLayout(root: $0).configFile }
        if let config, try statIfExists(config) == nil { throw ValidationError("config file \(config) does not exist") }
        if let path, try statIfExists(path) != nil {
            // The daemon checked the whole file when it started; a worker reads its own sections.
            let settings = try DepotConfig.load(path: path, sections: [GenerateSettings.self, SpeechSettings.self], partial: true)
            let layout = RootLayout(root: root ?? settings.root)
            let prompts = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("prompts")
            let generation = settings[GenerateSettings.self]
            // The breaker's state is shared by the root's workers in state/; a root not laid
            // out (a config for `depot generate --file` alone) keeps it in this process.
            let breaker = try statIfExists(layout.state) != nil ? layout.state + "/generate-breaker.json" : nil
            generate = GenerateProcessor(engines: GenerateSetup.engines(generation, promptsFolder: prompts, breakerFile: breaker),
                                         fallback: generation.fallback)
            speech = settings[SpeechSettings.self]
        }
        let registry = ProcessorRegistry.standard(testProcessors: TestProcessor.enabledByEnvironment, generate: generate,
                                                  speech: speech)
        let status = WorkerMain.run(limits: limits, registry: registry)
        if status != 0 { throw ExitCode(status) }
    }
}
