import ArgumentParser
import DepotCore
import DepotGenerate
import DepotDetect
import DepotRunner
import DepotQueue
import Foundation

/// `depot generate COLLECTION/PATH`: queues a generate job (summary, chapters, quiz,
/// keywords) for a document with the person priority, as POST /api/v1/documents/{id}/generate
/// does; both go through the queue's one `enqueue`. With `--file FILE --out DIR` it instead
/// runs extract and generate on a file in this process (debugging, benchmarks), as
/// `depot extract` does.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Queue summary, chapters, quiz and keywords for a document (or make them for a local file with --file).",
        discussion: "Parameters: " + JobKinds.generate.parameters.map { "\($0.name): \($0.help), default \($0.defaultValue)" }
            .joined(separator: "; ") + ". Defaults come from [jobs.kinds.generate.parameters] and, per collection, "
            + "[jobs.kinds.generate.collections.NAME].")

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "COLLECTION/PATH of the document.")
    var path: String?

    @Option(name: .long, help: "The version number (default: the current one).")
    var version: Int?

    @Option(name: .long, help: "builtin or openai.")
    var engine: String?

    @Option(name: .long, help: "Words of the short summary.")
    var summaryWords: Int?

    @Option(name: .long, help: "Sentences of the short summary (instead of words).")
    var summarySentences: Int?

    @Option(name: .long, help: "Quiz questions at most.")
    var questions: Int?

    @Option(name: .long, help: "Quiz difficulty: easy, medium or hard.")
    var difficulty: String?

    @Option(name: .long, help: "auto or an ISO 639-1 code (en, de, fr).")
    var language: String?

    @Option(name: .customLong("param"), help: "Another parameter NAME=VALUE (repeatable).")
    var parameters: [String] = []

    @Option(name: .long, help: "Its priority, -1000 to 1000 (default: \(JobQueue.personPriority), before background work).")
    var priority: Int?

    @Option(name: .long, help: "Run on this local file instead, in this process (needs --out).")
    var file: String?

    @Option(name: .long, help: "Generate only, from a folder holding an extract's text.txt (and structure.json or transcript.vtt) (needs --out).")
    var from: String?

    @Option(name: .long, help: "With --file or --from: the folder for the artifacts (created; must be empty).")
    var out: String?

    func validate() throws {
        guard [path != nil, file != nil, from != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give one of COLLECTION/PATH, --file FILE, --from DIR")
        }
        if (file != nil || from != nil) && out == nil { throw ValidationError("--file and --from need --out DIR") }
    }

    var given: JobParameters {
        get throws {
            var p = try JobsCommand.parameters(parameters)
            if let engine { p["engine"] = .string(engine) }
            if let summaryWords { p["summary_words"] = .int(summaryWords) }
            if let summarySentences { p["summary_sentences"] = .int(summarySentences) }
            if let questions { p["questions"] = .int(questions) }
            if let difficulty { p["difficulty"] = .string(difficulty) }
            if let language { p["language"] = .string(language) }
            return p
        }
    }

    func run() throws {
        if let out, file != nil || from != nil { return try runLocally(file, from: from, out) }
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let (queue, v, job) = try JobsCommand.enqueue(kind: JobKinds.generate.name, path: path!, version: version,
                                                      parameters: try given, priority: priority, context: context)
        if output.json {
            try printJSON(try queue.records([job])[0])
        } else {
            print("job \(job.id) queued: generate of \(path!) v\(v.number)"
                  + (job.waitsFor.isEmpty ? "" : " (after job \(job.waitsFor.map(String.init).joined(separator: ", ")))"))
        }
    }

    /// Extract, then generate with the given parameters over the kind's defaults, in this
    /// process; or generate only from an extract's folder.
    func runLocally(_ file: String?, from folder: String?, _ out: String) throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        guard try FileManager.default.contentsOfDirectory(atPath: out).isEmpty else { throw CommandFailure(.usage, "\(out) is not empty") }
        let parameters: JobParameters
        do { parameters = try JobKinds.generate.resolve(try given) } catch let error as JobQueueError {
            throw CommandFailure(.usage, error.description)
        }
        let run = Context.localRun(try Context.resolve(rootOptions))
        let results: [Result<[ProducedArtifact], LocalRun.Failure>]
        if let file {
            let name = (file as NSString).lastPathComponent
            let mediaType = try TypeDetector.detect(path: file, name: name)
            results = try run.run(path: file, mediaType: mediaType, name: name, kinds: [ProcessorKind.extract, ProcessorKind.generate],
                                  parameters: parameters, outputDirectory: out)
        } else {
            var inputs: [String: String] = [:]
            for kind in JobKinds.generate.reads where FileManager.default.fileExists(atPath: folder! + "/" + kind) { inputs[kind] = folder! + "/" + kind }
            results = try run.run(path: "/dev/null", mediaType: "text/plain", name: "", kinds: [ProcessorKind.generate],
                                  parameters: parameters, outputDirectory: out, inputs: inputs)
        }
        if try printArtifacts(results, command: "generate", file: file ?? folder ?? "").contains(false) || results.isEmpty { throw ExitCode(1) }
    }
}
