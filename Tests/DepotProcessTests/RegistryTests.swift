import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Testing

/// A processor that does nothing, with the scores it is given.
private struct Fixed: Processor {
    let choice: ProcessorChoice
    var version = "1"
    let artifactKinds: [String: String] = [:]
    init(name: String, kind: String = ProcessorKind.extract, scores: [String: Int]) {
        choice = ProcessorChoice(name: name, kind: kind) { scores[$0] ?? 0 }
    }
    func process(_ input: ProcessorInput) throws -> [ProducedArtifact] { [] }
}

@Suite("Processor registry")
struct RegistryTests {
    @Test func highestScoreOfTheKindWinsThenTheFirstRegistered() {
        let registry = ProcessorRegistry(processors: [
            Fixed(name: "a", scores: ["text/plain": 5, "image/png": 3]),
            Fixed(name: "b", scores: ["text/plain": 5, "image/png": 7]),
            Fixed(name: "big-thumbnail", kind: ProcessorKind.thumbnail, scores: ["text/plain": 100, "image/png": 100]),
        ])
        #expect(registry.select(kind: "extract", mediaType: "text/plain")?.name == "a")
        #expect(registry.select(kind: "extract", mediaType: "image/png")?.name == "b")
        #expect(registry.select(kind: "thumbnail", mediaType: "image/png")?.name == "big-thumbnail")
        #expect(registry.select(kind: "extract", mediaType: "video/mp4") == nil)
        #expect(registry.select(kind: "transcribe", mediaType: "text/plain") == nil)
    }

    @Test func standardRegistrySelectsByKindAndType() {
        // The worker's registry and what the daemon chooses by (`ProcessorChoices`, without
        // the processors' code) give the same answers.
        let standard = ProcessorRegistry.standard()
        let daemon = ProcessorChoices.standard()
        let expected: [(String, String, String?)] = [
            ("extract", "text/markdown", "depot-text"), ("extract", "text/plain", "depot-text"),
            ("extract", "application/pdf", "depot-pdf"), ("thumbnail", "application/pdf", "depot-pdf-thumbnail"),
            ("extract", TypeDetector.docx, "depot-docx"), ("thumbnail", TypeDetector.docx, "depot-ooxml-thumbnail"),
            ("extract", TypeDetector.pptx, "depot-pptx"), ("thumbnail", TypeDetector.pptx, "depot-ooxml-thumbnail"),
            ("extract", TypeDetector.protectedOOXML, "depot-protected-office"), ("thumbnail", TypeDetector.protectedOOXML, nil),
            ("thumbnail", "text/markdown", nil), ("extract", "application/zip", nil), ("extract", TypeDetector.xlsx, nil),
            ("extract", TypeDetector.testMediaType, nil),
        ]
        for (kind, type, name) in expected {
            #expect(standard.select(kind: kind, mediaType: type)?.name == name, "\(kind) \(type)")
            #expect(daemon.select(kind: kind, mediaType: type)?.name == name, "\(kind) \(type)")
        }
    }

    @Test func theTestProcessorIsChosenByItsTypeOnlyWhenRegistered() {
        let testing = ProcessorRegistry.standard(testProcessors: true)
        #expect(testing.select(kind: "extract", mediaType: TypeDetector.testMediaType)?.name == "depot-test")
        #expect(testing.select(kind: "extract", mediaType: "text/plain")?.name == "depot-text")
        #expect(testing.select(kind: "thumbnail", mediaType: TypeDetector.testMediaType) == nil)
        #expect(ProcessorRegistry.standard().processor(named: "depot-test") == nil)
        // What the daemon does: detect with test markers, then choose by type.
        let type = TypeDetector.detect(MemoryBytes(Array("DEPOT-TEST-CRASH\n".utf8)), name: "crash.txt", testMarkers: true)
        #expect(testing.select(kind: "extract", mediaType: type)?.name == "depot-test")
    }

    @Test func processorsAreFoundByNameAndNamesAreUnique() {
        let testing = ProcessorRegistry.standard(testProcessors: true)
        let names = testing.processors.map(\.name)
        #expect(names == ["depot-test", "depot-text", "depot-pdf", "depot-pdf-thumbnail", "depot-docx", "depot-pptx",
                          "depot-ooxml-thumbnail", "depot-protected-office", "depot-media", "depot-media-thumbnail",
                          "depot-storyboard", "depot-waveform", "depot-transcript", "depot-rendition", "depot-generate"])
        #expect(Set(names).count == names.count)
        for name in names {
            #expect(testing.processor(named: name)?.name == name)
        }
        #expect(testing.processor(named: "depot-nope") == nil)
        #expect(testing.processors.allSatisfy {
            [ProcessorKind.extract, ProcessorKind.thumbnail, ProcessorKind.generate, ProcessorKind.storyboard, ProcessorKind.waveform,
             ProcessorKind.transcript, ProcessorKind.rendition].contains($0.kind)
        })
    }

    @Test func twoProcessorsWithOneNameAreRefused() async {
        await #expect(processExitsWith: .failure) {
            _ = ProcessorRegistry(processors: [TextProcessor(), TextProcessor()])
        }
    }

    /// Every standard processor, run on files that make it write all it can: each artifact
    /// it writes is one of its `artifactKinds` with that MIME type, and it can write each of them.
    @Test func artifactKindsListExactlyWhatEachProcessorWrites() throws {
        let dir = try TempDir()
        let pdf = dir.path + "/a.pdf", docx = dir.path + "/a.docx", pptx = dir.path + "/a.pptx", notes = dir.path + "/a.md"
        let locked = dir.path + "/locked.docx", marked = dir.path + "/marked.txt"
        // With an attachment: stored as "attachment-1.txt", which `attachment-*` stands for.
        try makeRawPDF(pdf, content: "BT /F1 12 Tf 72 700 Td (words) Tj ET",
                       catalog: "/Names << /EmbeddedFiles << /Names [(notes.txt) 6 0 R] >> >>",
                       objects: ["<< /Type /Filespec /F (notes.txt) /EF << /F 7 0 R >> >>",
                                 "<< /Type /EmbeddedFile /Length 6 >>\nstream\nnotes\n\nendstream"])
        try DOCXProcessorTests.makeSample(docx)
        try PPTXProcessorTests.makeDeck(pptx, thumbnail: pngBytes)
        try Data("# Notes\n".utf8).write(to: URL(fileURLWithPath: notes))
        try makeProtectedOffice(locked)
        try Data("DEPOT-TEST-SLEEP 1\n".utf8).write(to: URL(fileURLWithPath: marked))
        let video = dir.path + "/a.mp4", song = dir.path + "/a.m4a"
        try makeMedia(video, inputs: ["testsrc2=s=160x120:d=1"], output: ["-c:v", "libx264"])
        try makeSongWithCover(song, in: dir)
        var files = [pdf: PDFProcessor.mediaType, docx: TypeDetector.docx, pptx: TypeDetector.pptx, notes: "text/markdown",
                     locked: TypeDetector.protectedOOXML, marked: TypeDetector.testMediaType, video: "video/mp4", song: "audio/mp4"]
        // A video with English subtitles, and a tone.
        let film = dir.path + "/a.mkv", srt = dir.path + "/a.srt", tone = dir.path + "/tone.m4a"
        try Data("1\n00:00:00,000 --> 00:00:01,000\nHi\n".utf8).write(to: URL(fileURLWithPath: srt))
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=2", "-i", srt, "-c:v", "libx264", "-c:s", "srt",
                    "-metadata:s:s:0", "language=eng", film])
        try makeMedia(tone, inputs: ["sine=f=440:d=1"], output: ["-c:a", "aac"])
        files[film] = "video/x-matroska"
        files[tone] = "audio/mp4"

        let registry = ProcessorRegistry.standard(testProcessors: true)
        var written: [String: [String: String]] = [:]
        for (path, type) in files {
            for kind in [ProcessorKind.extract, ProcessorKind.thumbnail, ProcessorKind.storyboard, ProcessorKind.waveform,
                         ProcessorKind.transcript] {
                guard let processor = registry.select(kind: kind, mediaType: type) else { continue }
                let (folder, artifacts) = try runProcessor(processor, path, mediaType: type, in: dir)
                // What it lists is what is in the folder.
                #expect(Set(artifacts.map(\.file)) == Set(try FileManager.default.contentsOfDirectory(atPath: folder)))
                for artifact in artifacts {
                    #expect(artifact.producer == processor.name && artifact.producerVersion == processor.version)
                    #expect(artifact.file == artifact.kind)
                    // A kind ending in `*` stands for every name it begins, of whatever type the bytes are.
                    if let pattern = processor.artifactKinds.keys.first(where: { $0.hasSuffix("*") && artifact.kind.hasPrefix($0.dropLast()) }) {
                        written[processor.name, default: [:]][pattern] = processor.artifactKinds[pattern]
                    } else {
                        written[processor.name, default: [:]][artifact.kind] = artifact.mimeType
                    }
                }
            }
        }
        // A rendition writes one artifact a job, named by what it was asked: each output once.
        if let rendition = registry.select(kind: ProcessorKind.rendition, mediaType: "video/mp4") {
            let clip = dir.path + "/with-sound.mp4"
            try makeMedia(clip, inputs: ["testsrc2=s=160x120:d=1", "sine=d=1"], output: ["-c:v", "libx264", "-c:a", "aac"])
            for parameters: [String: ParameterValue] in [[:], ["output": .string("audio")],
                                                         ["output": .string("audio"), "audio_codec": .string("opus")],
                                                         ["output": .string("frame"), "time": .string("0.5")]] {
                let (folder, artifacts) = try runProcessor(rendition, clip, mediaType: "video/mp4", in: dir, parameters: parameters)
                #expect(Set(artifacts.map(\.file)) == Set(try FileManager.default.contentsOfDirectory(atPath: folder)))
                for artifact in artifacts {
                    #expect(artifact.file == artifact.kind && artifact.producer == rendition.name)
                    if let pattern = rendition.artifactKinds.keys.first(where: { $0.hasSuffix("*") && artifact.kind.hasPrefix($0.dropLast()) }) {
                        #expect(artifact.mimeType == rendition.artifactKinds[pattern])
                        written[rendition.name, default: [:]][pattern] = rendition.artifactKinds[pattern]
                    } else {
                        written[rendition.name, default: [:]][artifact.kind] = artifact.mimeType
                    }
                }
            }
        }
        // Generate reads what extract wrote (runLocally hands it over as the job's inputs).
        let generated = dir.path + "/generated"
        try FileManager.default.createDirectory(atPath: generated, withIntermediateDirectories: true)
        try Data("# Notes\n\nThe notes say a few things about the tides of the sea and the moon.\n".utf8).write(to: URL(fileURLWithPath: notes))
        for artifact in try registry.runLocally(path: notes, mediaType: "text/markdown", name: "a.md", kinds: [ProcessorKind.extract, ProcessorKind.generate],
                                                outputDirectory: generated) where artifact.producer.hasPrefix("depot-generate") {
            #expect(artifact.producer == "depot-generate-builtin" && artifact.file == artifact.kind)
            written["depot-generate", default: [:]][artifact.kind] = artifact.mimeType
        }
        // The storyboard's sheets and the subtitles' languages are numbered and named by the
        // input: what a short video writes is a part of them, with their MIME types.
        let openEnded: [String: Set<String>] = ["depot-storyboard": ["storyboard.jpg", "storyboard.vtt"],
                                                "depot-transcript": ["subtitles.eng.vtt", "transcript.vtt", "transcript.txt"]]
        for processor in registry.processors {
            if let expected = openEnded[processor.name] {
                #expect(Set(written[processor.name]?.keys.map { $0 } ?? []) == expected, "\(processor.name)")
                #expect(written[processor.name]?.allSatisfy { processor.artifactKinds[$0.key] == $0.value } == true)
            } else {
                #expect(written[processor.name] == processor.artifactKinds, "\(processor.name)")
            }
        }
        // Extract writes no picture any more; the thumbnail processors write nothing else.
        #expect(registry.processors.filter { $0.kind == ProcessorKind.extract }
            .allSatisfy { $0.artifactKinds.keys.allSatisfy { !$0.hasPrefix("thumbnail.") } })
        #expect(registry.processors.filter { $0.kind == ProcessorKind.thumbnail }
            .allSatisfy { $0.artifactKinds.keys.allSatisfy { $0.hasPrefix("thumbnail.") || $0 == "cover.jpg" } })
    }

    @Test func runLocallyRunsEachKindInOrderIntoOneFolder() throws {
        let dir = try TempDir()
        let pdf = dir.path + "/book.pdf"
        makePDF(pdf, pages: [["alpha"], ["beta"]])
        let out = try dir.folder("out")
        let artifacts = try ProcessorRegistry.standard().runLocally(
            path: pdf, mediaType: PDFProcessor.mediaType, name: "book.pdf",
            parameters: ["max_pages": .int(1), "width": .int(40)], outputDirectory: out)
        #expect(artifacts.map(\.kind) == ["metadata.json", "text.txt", "structure.json", "thumbnail.png"])
        #expect(artifacts.map(\.producer) == ["depot-pdf", "depot-pdf", "depot-pdf", "depot-pdf-thumbnail"])
        #expect(!(try dir.read("out/text.txt")).contains("beta"))
        #expect(try pngSize(contents(out + "/thumbnail.png")).width == 40)

        // A kind nobody does for the type is passed over; none at all is an error.
        let notes = dir.path + "/notes.md"
        try Data("# Notes\n".utf8).write(to: URL(fileURLWithPath: notes))
        let text = try ProcessorRegistry.standard().runLocally(path: notes, mediaType: "text/markdown", name: "notes.md",
                                                               outputDirectory: try dir.folder("text"))
        #expect(text.map(\.kind) == ["text.txt", "structure.json", "metadata.json"])
        #expect {
            try ProcessorRegistry.standard().runLocally(path: notes, mediaType: "application/zip", name: "x.zip",
                                                        outputDirectory: try dir.folder("zip"))
        } throws: { error in
            (error as? DocumentError)?.description == "no processor does extract or thumbnail for application/zip"
        }
    }
}
