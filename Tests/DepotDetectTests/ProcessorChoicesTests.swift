import DepotCore
@testable import DepotDetect
import Foundation
import Testing

/// What the daemon chooses processors by, without their code: names, kinds, scores and the
/// tie-break order.
@Suite struct ProcessorChoicesTests {
    @Test func theHighestScoreOfTheKindWinsThenTheOneListedFirst() {
        let a = ProcessorChoice(name: "a", kind: ProcessorKind.extract) { ["text/plain": 5, "image/png": 3][$0] ?? 0 }
        let b = ProcessorChoice(name: "b", kind: ProcessorKind.extract) { ["text/plain": 5, "image/png": 7][$0] ?? 0 }
        let big = ProcessorChoice(name: "big", kind: ProcessorKind.thumbnail) { _ in 100 }
        let choices = ProcessorChoices([a, b, big])
        #expect(choices.select(kind: ProcessorKind.extract, mediaType: "text/plain")?.name == "a")
        #expect(ProcessorChoices([b, a, big]).select(kind: ProcessorKind.extract, mediaType: "text/plain")?.name == "b")
        #expect(choices.select(kind: ProcessorKind.extract, mediaType: "image/png")?.name == "b")
        #expect(choices.select(kind: ProcessorKind.thumbnail, mediaType: "text/plain")?.name == "big")
        // A score of 0 is "not at all", never a last resort.
        #expect(choices.select(kind: ProcessorKind.extract, mediaType: "video/mp4") == nil)
        #expect(choices.select(kind: ProcessorKind.transcript, mediaType: "text/plain") == nil)
    }

    @Test func theStandardChoicesCoverEachDetectedTypeByKind() {
        let standard = ProcessorChoices.standard()
        let expected: [(String, String, String?)] = [
            (ProcessorKind.extract, "text/markdown", "depot-text"), (ProcessorKind.extract, "text/csv", "depot-text"),
            (ProcessorKind.extract, TypeDetector.pdf, "depot-pdf"), (ProcessorKind.thumbnail, TypeDetector.pdf, "depot-pdf-thumbnail"),
            (ProcessorKind.extract, TypeDetector.docx, "depot-docx"), (ProcessorKind.thumbnail, TypeDetector.pptx, "depot-ooxml-thumbnail"),
            (ProcessorKind.extract, "video/mp4", "depot-media"), (ProcessorKind.thumbnail, "image/png", "depot-media-thumbnail"),
            (ProcessorKind.storyboard, "video/webm", "depot-storyboard"), (ProcessorKind.storyboard, "audio/mpeg", nil),
            (ProcessorKind.waveform, "audio/flac", "depot-waveform"), (ProcessorKind.waveform, "video/mp4", nil),
            (ProcessorKind.transcript, "video/x-matroska", "depot-transcript"), (ProcessorKind.rendition, "audio/ogg", "depot-rendition"),
            (ProcessorKind.rendition, "image/png", nil), (ProcessorKind.generate, TypeDetector.pdf, "depot-generate"),
            (ProcessorKind.generate, "image/png", nil), (ProcessorKind.extract, "application/zip", nil),
            (ProcessorKind.extract, TypeDetector.xlsx, nil), (ProcessorKind.extract, TypeDetector.octetStream, nil),
        ]
        for (kind, type, name) in expected {
            #expect(standard.select(kind: kind, mediaType: type)?.name == name, "\(kind) \(type)")
        }
        let names = standard.choices.map(\.name)
        #expect(Set(names).count == names.count && names.count == 14)
    }

    @Test func theTestProcessorIsOfferedOnlyWhenAskedForAndTakesOnlyItsMarker() {
        #expect(!ProcessorChoices.standard().choices.contains { $0.name == "depot-test" })
        let testing = ProcessorChoices.standard(testProcessors: true)
        #expect(testing.choices.first?.name == "depot-test")
        let marked = TypeDetector.detect(ByteArray(Array("DEPOT-TEST-CRASH\n".utf8)), name: "crash.txt", testMarkers: true)
        #expect(testing.select(kind: ProcessorKind.extract, mediaType: marked)?.name == "depot-test")
        // No other kind runs on a test marker, and a real file never goes to the test processor.
        #expect(testing.select(kind: ProcessorKind.generate, mediaType: marked) == nil)
        #expect(testing.select(kind: ProcessorKind.extract, mediaType: "text/plain")?.name == "depot-text")
        let plain = TypeDetector.detect(ByteArray(Array("DEPOT-TEST-CRASH\n".utf8)), name: "crash.txt")
        #expect(testing.select(kind: ProcessorKind.extract, mediaType: plain)?.name == "depot-text")
    }
}
