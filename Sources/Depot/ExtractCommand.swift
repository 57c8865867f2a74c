import ArgumentParser
import DepotCore
import DepotProcess
import Foundation

/// `depot extract FILE --out DIR`: runs the processor for one file in this process and prints
/// the artifacts it wrote, for debugging a file and for the benchmarks (hidden). The daemon
/// never does this: its processors run in worker processes.
struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Run the processor for one file into a folder and list the artifacts (debugging).",
        shouldDisplay: false)

    @Argument(help: "The file to process.")
    var file: String

    @Option(name: .long, help: "The folder to write the artifacts into (created; must be empty).")
    var out: String

    @Option(name: .long, help: "The media type (default: detected from the bytes).")
    var type: String?

    @Option(name: .customLong("kind"), help: "The kinds of job to run, in order (default: extract, then thumbnail).")
    var kinds: [String] = []

    func run() throws {
        let name = (file as NSString).lastPathComponent
        let mediaType = try type ?? TypeDetector.detect(path: file, name: name)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        guard try FileManager.default.contentsOfDirectory(atPath: out).isEmpty else {
            throw CommandFailure(.usage, "\(out) is not empty")
        }
        // Each kind runs by itself, as its own job does in the daemon: a thumbnail cairo cannot
        // draw (pdf.js issue19634.pdf) is reported and keeps the text, structure and metadata
        // extract wrote. The exit status is the first kind's (extract's by default).
        let registry = ProcessorRegistry.standard()
        let chosen = kinds.isEmpty ? ["extract", "thumbnail"] : kinds
        guard chosen.contains(where: { registry.select(kind: $0, mediaType: mediaType) != nil }) else {
            FileHandle.standardError.write(Data("depot extract: \(file): no processor does \(chosen.joined(separator: " or ")) for \(mediaType)\n".utf8))
            throw ExitCode(1)
        }
        var firstFailed = false
        for (index, kind) in chosen.enumerated() where registry.select(kind: kind, mediaType: mediaType) != nil {
            do {
                let artifacts = try registry.runLocally(path: file, mediaType: mediaType, name: name, kinds: [kind],
                                                        parameters: [:], outputDirectory: out)
                for artifact in artifacts {
                    print("\(artifact.kind)\t\(artifact.mimeType)\t\(artifact.producer) \(artifact.producerVersion)")
                }
            } catch {
                let reason = "\(error)"
                let named = reason.hasPrefix(kind + ":") ? reason : "\(kind): \(reason)"
                FileHandle.standardError.write(Data("depot extract: \(file): \(named)\n".utf8))
                if index == 0 { firstFailed = true }
            }
        }
        if firstFailed { throw ExitCode(1) }
    }
}
