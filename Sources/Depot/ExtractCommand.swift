import ArgumentParser
import DepotCore
import DepotDetect
import DepotRunner
import Foundation

/// `depot extract FILE --out DIR`: runs the processors the daemon would choose for one file, in
/// a worker process as its jobs run, and prints the artifacts they wrote, for debugging a file
/// and for the benchmarks (hidden).
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
        let chosen = kinds.isEmpty ? ["extract", "thumbnail"] : kinds
        let results = try Context.localRun(nil).run(path: file, mediaType: mediaType, name: name, kinds: chosen,
                                                    parameters: [:], outputDirectory: out)
        guard !results.isEmpty else {
            FileHandle.standardError.write(Data("depot extract: \(file): no processor does \(chosen.joined(separator: " or ")) for \(mediaType)\n".utf8))
            throw ExitCode(1)
        }
        if try !printArtifacts(results, command: "extract", file: file)[0] { throw ExitCode(1) }
    }
}

/// Prints each artifact of `results` as a line (kind, type, producer) and each failure on
/// stderr; returns, per result, whether it succeeded.
func printArtifacts(_ results: [Result<[ProducedArtifact], LocalRun.Failure>], command: String, file: String) throws -> [Bool] {
    results.map { result in
        switch result {
        case .success(let artifacts):
            for artifact in artifacts { print("\(artifact.kind)\t\(artifact.mimeType)\t\(artifact.producer) \(artifact.producerVersion)") }
            return true
        case .failure(let failure):
            FileHandle.standardError.write(Data("depot \(command): \(file): \(failure)\n".utf8))
            return false
        }
    }
}
