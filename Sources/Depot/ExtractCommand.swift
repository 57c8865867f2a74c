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

    func run() throws {
        let mediaType = try type ?? TypeDetector.detect(path: file, name: (file as NSString).lastPathComponent)
        let registry = ProcessorRegistry.standard()
        guard let processor = registry.select(mediaType: mediaType) else {
            throw ValidationError("no processor handles \(mediaType)")
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        guard try FileManager.default.contentsOfDirectory(atPath: out).isEmpty else {
            throw ValidationError("\(out) is not empty")
        }
        let input = ProcessorInput(path: file, mediaType: mediaType, name: (file as NSString).lastPathComponent,
                                   outputDirectory: out)
        do {
            let artifacts = try processor.process(input)
            for artifact in artifacts {
                print("\(artifact.kind)\t\(artifact.mimeType)\t\(processor.name) \(processor.version)")
            }
        } catch {
            FileHandle.standardError.write(Data("depot extract: \(file): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
