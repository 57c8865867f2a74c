import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Testing

/// The thumbnail job's processors, and the job parameters (`width`, `max_pages`) as the
/// processors read them.
@Suite("Thumbnails and parameters")
struct ThumbnailTests {
    let dir: TempDir

    init() throws { dir = try TempDir() }

    @Test func pdfThumbnailIsPage1OnWhiteAt320Pixels() throws {
        let pdf = dir.path + "/book.pdf"
        makePDF(pdf, pages: [["Introduction"], ["Second"]])
        let (folder, artifacts) = try runProcessor(PDFThumbnailProcessor(), pdf, mediaType: PDFProcessor.mediaType, in: dir)
        #expect(artifacts == [ProducedArtifact(kind: "thumbnail.png", mimeType: "image/png", file: "thumbnail.png",
                                               producer: "depot-pdf-thumbnail", producerVersion: "1")])
        let size = try pngSize(contents(folder + "/thumbnail.png"))
        // A4 (595 × 842 pt) at 320 pixels wide.
        #expect(size.width == 320 && size.height == 453)
    }

    @Test func widthParameterSetsThePictureWidth() throws {
        let pdf = dir.path + "/book.pdf"
        makePDF(pdf, pages: [["Introduction"]])
        let (folder, _) = try runProcessor(PDFThumbnailProcessor(), pdf, mediaType: PDFProcessor.mediaType, in: dir,
                                           parameters: ["width": .int(64)])
        let size = try pngSize(contents(folder + "/thumbnail.png"))
        #expect(size.width == 64 && size.height == 91)
        // The parameter wins over the processor's own limit; without it, the limit holds.
        var limits = DocumentLimits()
        limits.thumbnailWidth = 100
        let limited = PDFThumbnailProcessor(limits: limits)
        #expect(try pngSize(contents(runProcessor(limited, pdf, mediaType: PDFProcessor.mediaType, in: dir,
                                                  parameters: ["width": .int(48)]).folder + "/thumbnail.png")).width == 48)
        #expect(try pngSize(contents(runProcessor(limited, pdf, mediaType: PDFProcessor.mediaType, in: dir).folder
                                     + "/thumbnail.png")).width == 100)
    }

    @Test func aVeryTallPageIsCutAtFourTimesTheWidth() throws {
        let pdf = dir.path + "/receipt.pdf"
        makePDF(pdf, pages: [["Total"]], size: (100, 1000))
        let (folder, _) = try runProcessor(PDFThumbnailProcessor(), pdf, mediaType: PDFProcessor.mediaType, in: dir,
                                           parameters: ["width": .int(50)])
        let size = try pngSize(contents(folder + "/thumbnail.png"))
        #expect(size.width == 50 && size.height == 200)
    }

    @Test func aScannedPageStillHasAPicture() throws {
        let pdf = dir.path + "/scan.pdf"
        makePDF(pdf, pages: [[]])
        let (folder, artifacts) = try runProcessor(PDFThumbnailProcessor(), pdf, mediaType: PDFProcessor.mediaType, in: dir)
        #expect(artifacts.map(\.kind) == ["thumbnail.png"])
        #expect(try pngSize(contents(folder + "/thumbnail.png")).width == 320)
    }

    @Test func aPDFThatNeedsAPasswordHasNoPictureAndNoFailure() throws {
        let plain = dir.path + "/plain.pdf", locked = dir.path + "/locked.pdf"
        makePDF(plain, pages: [["secret words"]])
        try run("qpdf", ["--encrypt", "user-pw", "owner-pw", "256", "--", plain, locked])
        let (folder, artifacts) = try runProcessor(PDFThumbnailProcessor(), locked, mediaType: PDFProcessor.mediaType, in: dir)
        #expect(artifacts.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    @Test func badParameterValuesAreRefusedWithTheirRange() throws {
        let pdf = dir.path + "/book.pdf"
        makePDF(pdf, pages: [["Introduction"]])
        let cases: [(any Processor, String, ParameterValue, String)] = [
            (PDFThumbnailProcessor(), "width", .int(8), "parameter width must be an integer from 16 to 2048, not 8"),
            (PDFThumbnailProcessor(), "width", .string("big"), "parameter width must be an integer from 16 to 2048, not big"),
            (PDFProcessor(), "max_pages", .int(0), "parameter max_pages must be an integer from 1 to 1000000, not 0"),
        ]
        for (processor, name, value, message) in cases {
            #expect {
                try runProcessor(processor, pdf, mediaType: PDFProcessor.mediaType, in: dir, parameters: [name: value])
            } throws: { error in
                (error as? DocumentError)?.description == message
            }
        }
        // A parameter of the other kind is not this processor's: ignored.
        #expect(try runProcessor(PDFProcessor(), pdf, mediaType: PDFProcessor.mediaType, in: dir,
                                 parameters: ["width": .int(1)]).artifacts.count == 3)
    }

    @Test func maxPagesTruncatesTheText() throws {
        let pdf = dir.path + "/long.pdf"
        makePDF(pdf, pages: [["alpha"], ["beta"], ["gamma"]])
        let (folder, _) = try runProcessor(PDFProcessor(), pdf, mediaType: PDFProcessor.mediaType, in: dir,
                                           parameters: ["max_pages": .int(1)])
        let text = try String(contentsOfFile: folder + "/text.txt", encoding: .utf8)
        #expect(text.contains("alpha") && !text.contains("beta") && !text.contains("gamma"))
        let structure = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/structure.json"))) as? [String: Any])
        #expect(structure["text_truncated_after_page"] as? Int == 1)
        #expect(structure["page_count"] as? Int == 3)
        let pages = try #require(structure["pages"] as? [[String: Any]])
        #expect(pages.map { $0["characters"] as? Int } == [5, nil, nil])
        // The parameter replaces the processor's own page cap, upwards too.
        var limits = DocumentLimits()
        limits.maxTextPages = 1
        let all = try runProcessor(PDFProcessor(limits: limits), pdf, mediaType: PDFProcessor.mediaType, in: dir,
                                   parameters: ["max_pages": .int(3)])
        #expect(try String(contentsOfFile: all.folder + "/text.txt", encoding: .utf8).contains("gamma"))
    }

    @Test func officeThumbnailIsThePackagesOwnPictureByteForByte() throws {
        let docx = dir.path + "/report.docx", pptx = dir.path + "/deck.pptx"
        try DOCXProcessorTests.makeSample(docx)
        try PPTXProcessorTests.makeDeck(pptx, thumbnail: pngBytes)
        let processor = OOXMLThumbnailProcessor()
        let word = try runProcessor(processor, docx, mediaType: TypeDetector.docx, in: dir)
        #expect(word.artifacts == [ProducedArtifact(kind: "thumbnail.jpg", mimeType: "image/jpeg", file: "thumbnail.jpg",
                                                    producer: "depot-ooxml-thumbnail", producerVersion: "1")])
        #expect(try contents(word.folder + "/thumbnail.jpg") == jpegBytes)
        let deck = try runProcessor(processor, pptx, mediaType: TypeDetector.pptx, in: dir)
        #expect(deck.artifacts.map(\.kind) == ["thumbnail.png"])
        #expect(try contents(deck.folder + "/thumbnail.png") == pngBytes)
        // Extract of the same files writes no picture.
        #expect(try runProcessor(DOCXProcessor(), docx, mediaType: TypeDetector.docx, in: dir).artifacts
            .allSatisfy { !$0.kind.hasPrefix("thumbnail") })
        #expect(try runProcessor(PPTXProcessor(), pptx, mediaType: TypeDetector.pptx, in: dir).artifacts
            .allSatisfy { !$0.kind.hasPrefix("thumbnail") })
    }

    @Test func aPackageWithoutAJPEGOrPNGThumbnailSucceedsWithNone() throws {
        let none = dir.path + "/none.docx", wmf = dir.path + "/wmf.docx", deck = dir.path + "/deck.pptx"
        try DOCXProcessorTests.makeSample(none, thumbnail: false)
        try DOCXProcessorTests.makeSample(wmf, thumbnailPart: ("docProps/thumbnail.jpeg", wmfBytes))
        try PPTXProcessorTests.makeDeck(deck)
        for (path, type) in [(none, TypeDetector.docx), (wmf, TypeDetector.docx), (deck, TypeDetector.pptx)] {
            let (folder, artifacts) = try runProcessor(OOXMLThumbnailProcessor(), path, mediaType: type, in: dir)
            #expect(artifacts.isEmpty, "\(path)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
        }
    }

    @Test func aPackageThatExtractRefusesIsRefusedByItsThumbnailToo() throws {
        let twice = dir.path + "/twice.pptx"
        try makeZip(twice, [("[Content_Types].xml", contentTypesDOCX), ("ppt/presentation.xml", "<p/>"), ("PPT/Presentation.xml", "<p/>")])
        #expect {
            try runProcessor(OOXMLThumbnailProcessor(), twice, mediaType: TypeDetector.pptx, in: dir)
        } throws: { error in
            (error as? DocumentError)?.description == "zip has more than one entry named PPT/Presentation.xml (ambiguous package; refused)"
        }
    }
}
