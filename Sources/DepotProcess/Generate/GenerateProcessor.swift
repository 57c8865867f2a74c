import DepotCore
import DepotGenerate
import Foundation

/// The generate job: summary, chapters, quiz and keywords from what the version's extract job
/// wrote (text.txt and structure.json, or a transcript), which the runner hands over as the
/// job's inputs. It reads no original file: the blob path is not opened.
public struct GenerateProcessor: Processor {
    public var choice: ProcessorChoice { .generate }
    public let version = "1"
    public var artifactKinds: [String: String] { GenerationOutput.artifactKinds }
    /// The engines this worker may use, by name; "builtin" always.
    let engines: [String: any GenerationEngine]
    /// When the configured engine fails, make the outputs with the builtin engine (recorded in generation.json).
    let fallback: Bool

    public init(engines: [any GenerationEngine] = [], fallback: Bool = false) {
        var map: [String: any GenerationEngine] = ["builtin": BuiltinEngine()]
        for engine in engines { map[engine.name] = engine }
        self.engines = map
        self.fallback = fallback
    }

    public func process(_ input: ProcessorInput) throws -> [ProducedArtifact] {
        let source = try Self.source(of: input)
        // A document without text (a scan, an empty note, headings only) has nothing to
        // generate from: the job succeeds with no artifacts rather than failing the document.
        guard source.hasText else { return [] }
        let options = try Self.options(input.parameters)
        let engineName = input.parameters["engine"]?.stringValue ?? "builtin"
        guard let engine = engines[engineName] else {
            throw DocumentError("generation engine '\(engineName)' is not configured here (configured: \(engines.keys.sorted().joined(separator: ", ")))")
        }
        input.progress(10, "generating with \(engineName)")
        // The model server's circuit breaker opened by this job's failed requests.
        let breakerOpens = { Double((engine as? OpenAIEngine)?.breakerOpens ?? 0) }
        var output: GenerationOutput
        do {
            output = try engine.generate(source, options: options)
        } catch let error as GenerationInputError {
            throw DocumentError(error.description)
        } catch {
            guard fallback, engineName != "builtin" else {
                input.report(JobReport(labels: ["engine": engineName], values: ["failures": 1, "breaker_opens": breakerOpens()]))
                throw GenerationFailure(engine: engineName, underlying: error)
            }
            output = try BuiltinEngine().generate(source, options: options)
            output.info.fallbackReason = "\(engineName): \(error)"
        }
        var report = output.info.report
        // A fallback's figures are the builtin engine's; which engine it stood in for is a label.
        if output.info.fallbackReason != nil { report.labels["fallback_from"] = engineName }
        if engineName != "builtin" { report.values["breaker_opens"] = breakerOpens() }
        input.report(report)
        input.progress(90, "writing")
        let files = try output.write(to: input.outputDirectory)
        return files.map { ProducedArtifact(kind: $0, mimeType: GenerationOutput.artifactKinds[$0]!, file: $0,
                                            producer: name + "-" + output.info.engine, producerVersion: version) }
    }

    /// The document as the extract job described it: a transcript when there is one, else text.txt and structure.json.
    static func source(of input: ProcessorInput) throws -> SourceDocument {
        if let vtt = input.inputs["transcript.vtt"] {
            return SourceDocument.fromWebVTT(try String(contentsOfFile: vtt, encoding: .utf8), chapters: containerChapters(input))
        }
        guard let textPath = input.inputs["text.txt"] else {
            throw DocumentError("the version has no text.txt to generate from (its extract job made none)")
        }
        let text = try String(contentsOfFile: textPath, encoding: .utf8)
        let structure = try input.inputs["structure.json"].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        do {
            return try SourceDocument.fromExtract(text: text, structure: structure)
        } catch let error as GenerationInputError {
            throw DocumentError(error.description)
        }
    }

    /// The recording's chapters from the media extract's metadata.json (none when it has no
    /// such file, or no chapters in it).
    static func containerChapters(_ input: ProcessorInput) -> [(start: Double, title: String?)] {
        guard let path = input.inputs["metadata.json"], let data = FileManager.default.contents(atPath: path),
              let metadata = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let chapters = metadata["chapters"] as? [[String: Any]] else { return [] }
        return chapters.compactMap { c in
            guard let start = (c["start"] as? NSNumber)?.doubleValue, start.isFinite else { return nil }
            return (start, c["title"] as? String)
        }
    }

    /// The job's parameters (checked by the queue) as options.
    static func options(_ p: [String: ParameterValue]) throws -> GenerationOptions {
        var o = GenerationOptions()
        if let v = p["summary_words"]?.intValue { o.summaryWords = v }
        if let v = p["summary_sentences"]?.intValue, v > 0 { o.summarySentences = v }
        if let v = p["questions"]?.intValue { o.questions = v }
        if let v = p["keywords"]?.intValue { o.keywords = v }
        if let v = p["difficulty"]?.stringValue {
            guard let d = GenerationOptions.Difficulty(rawValue: v) else { throw DocumentError("difficulty must be easy, medium or hard") }
            o.difficulty = d
        }
        if let v = p["language"]?.stringValue { o.language = v }
        if let v = p["prompts"]?.stringValue { o.prompts = v }
        return o
    }
}

/// The configured engine failed (and no fallback was configured).
struct GenerationFailure: Error, CustomStringConvertible {
    var engine: String
    var underlying: Error
    var description: String { "\(engine) engine: \(underlying)" }
}
