import ArgumentParser
import DepotCore
import DepotDetect
import DepotQueue
import Foundation

/// `depot render COLLECTION/PATH`: queues a rendition job (an H.264/AAC MP4, audio only, or a
/// frame) for a document with the person priority, as POST /api/v1/documents/{id}/renditions
/// does; both go through the queue's one `enqueue`, which refuses what cannot be done. With
/// `--file FILE --out DIR` it makes the rendition of a local file in this process instead
/// (debugging, benchmarks).
struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Queue a rendition of a document: an H.264/AAC MP4, audio only (AAC, Opus) or a frame (or make one of a local file with --file).",
        discussion: "Parameters: " + JobKinds.rendition.parameters.map { "\($0.name): \($0.help), default \($0.defaultValue)" }
            .joined(separator: "; ") + ". Defaults come from [jobs.kinds.rendition.parameters] and, per collection, "
            + "[jobs.kinds.rendition.collections.NAME]. The artifact (rendition-video-720p.mp4, rendition-audio.m4a, "
            + "rendition-audio.opus, rendition-frame-12.5s.jpg) is published with the document's others.")

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "COLLECTION/PATH of the document.")
    var path: String?

    @Option(name: .long, help: "The version number (default: the current one).")
    var version: Int?

    @Option(name: .customLong("output"), help: "video (H.264/AAC MP4), audio (audio only) or frame (a still picture).")
    var kind: String?

    @Option(name: .long, help: "Most pixels tall (0: the source's; never larger than the source).")
    var height: Int?

    @Option(name: .long, help: "Most pixels wide (0: from the height).")
    var width: Int?

    @Option(name: .long, help: "libx264's constant rate factor, 0–51.")
    var crf: Int?

    @Option(name: .long, help: "libx264's preset (ultrafast … veryslow).")
    var preset: String?

    @Option(name: .long, help: "Encoder threads (0: chosen by libx264).")
    var threads: Int?

    @Option(name: .long, help: "aac or opus (opus only with --output audio).")
    var audioCodec: String?

    @Option(name: .long, help: "Audio bit rate, kbit/s.")
    var audioBitrate: Int?

    @Option(name: .long, help: "For a frame: when, as seconds (12.5) or [HH:]MM:SS[.mmm].")
    var time: String?

    @Option(name: .long, help: "For a frame: jpeg or png.")
    var image: String?

    @Option(name: .customLong("param"), help: "Another parameter NAME=VALUE (repeatable).")
    var parameters: [String] = []

    @Option(name: .long, help: "Its priority, -1000 to 1000 (default: \(JobQueue.personPriority), before background work).")
    var priority: Int?

    @Option(name: .long, help: "Make it of this local file instead, in this process (needs --out).")
    var file: String?

    @Option(name: .long, help: "With --file: the folder for the artifact (created; must be empty).")
    var out: String?

    func validate() throws {
        guard (path != nil) != (file != nil) else { throw ValidationError("give COLLECTION/PATH or --file FILE (one of them)") }
        if file != nil && out == nil { throw ValidationError("--file needs --out DIR") }
    }

    var given: JobParameters {
        get throws {
            var p = try JobsCommand.parameters(parameters)
            if let kind { p["output"] = .string(kind) }
            if let height { p["height"] = .int(height) }
            if let width { p["width"] = .int(width) }
            if let crf { p["crf"] = .int(crf) }
            if let preset { p["preset"] = .string(preset) }
            if let threads { p["threads"] = .int(threads) }
            if let audioCodec { p["audio_codec"] = .string(audioCodec) }
            if let audioBitrate { p["audio_bitrate"] = .int(audioBitrate) }
            if let time { p["time"] = .string(time) }
            if let image { p["image"] = .string(image) }
            return p
        }
    }

    func run() throws {
        if let file, let out { return try runLocally(file, out) }
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let (queue, v, job) = try JobsCommand.enqueue(kind: JobKinds.rendition.name, path: path!, version: version,
                                                      parameters: try given, priority: priority, context: context)
        if output.json {
            try printJSON(try queue.records([job])[0])
        } else {
            let name = (try? RenditionRequest(job.parameters).artifactName) ?? "rendition"
            print("job \(job.id) queued: \(name) of \(path!) v\(v.number)"
                  + (job.waitsFor.isEmpty ? "" : " (after job \(job.waitsFor.map(String.init).joined(separator: ", ")))"))
        }
    }

    /// The rendition of a local file, with the given parameters over the kind's defaults, in this process.
    func runLocally(_ file: String, _ out: String) throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        guard try FileManager.default.contentsOfDirectory(atPath: out).isEmpty else { throw CommandFailure(.usage, "\(out) is not empty") }
        let name = (file as NSString).lastPathComponent
        let mediaType = try TypeDetector.detect(path: file, name: name)
        let parameters: JobParameters
        do {
            parameters = try JobKinds.rendition.resolve(try given)
            try JobKinds.rendition.check(parameters, mediaType: mediaType)
        } catch let error as JobQueueError {
            throw CommandFailure(.usage, error.description)
        }
        let results = try Context.localRun(nil).run(path: file, mediaType: mediaType, name: name, kinds: [ProcessorKind.rendition],
                                                    parameters: parameters, outputDirectory: out)
        guard !results.isEmpty else {
            FileHandle.standardError.write(Data("depot render: \(file): no processor renders \(mediaType)\n".utf8))
            throw ExitCode(1)
        }
        if try !printArtifacts(results, command: "render", file: file)[0] { throw ExitCode(1) }
    }
}
