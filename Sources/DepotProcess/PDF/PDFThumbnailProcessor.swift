/// Thumbnail for PDF → thumbnail.png: page 1 drawn by poppler with cairo, `width` pixels wide
/// on white, its height following the page's shape up to 4 × the width (a very tall page
/// would make a huge image).
///
/// Parameter `width` (16–2048; `DocumentLimits.thumbnailWidth` without it).
///
/// It runs after extract, in its own job with its own time budget: a page that cairo cannot
/// draw (pdf.js's issue19634.pdf: a Type 3 glyph with a soft mask makes "invalid value
/// (typically too big)") fails this job with the reason, and costs the text nothing. A PDF
/// that needs a password, or has no pages, has no picture to make: the job succeeds with no
/// artifact, as extract recorded the document's state already.
public struct PDFThumbnailProcessor: DocumentProcessor {
    public var choice: ProcessorChoice { .pdfThumbnail }
    public let version = "1"
    public let artifactKinds = ["thumbnail.png": "image/png"]
    public let limits: DocumentLimits

    public init(limits: DocumentLimits = DocumentLimits()) {
        self.limits = limits
    }

    public func process(_ input: ProcessorInput, limits: DocumentLimits) throws -> [ProducedArtifact] {
        input.progress(5, "rendering page 1")
        return try Self.render(from: input.path, into: input.outputDirectory, width: limits.thumbnailWidth,
                               producer: name, version: version)
    }

    /// Draws page 1 of the PDF at `path` and writes thumbnail.png into `outputDirectory`.
    /// - Throws: `DocumentError` when poppler cannot read the file or its first page, or cairo
    ///   cannot draw it ("thumbnail: cairo cannot draw page 1: …").
    public static func render(from path: String, into outputDirectory: String, width: Int = DocumentLimits().thumbnailWidth,
                              producer: String = "depot-pdf-thumbnail", version: String = "1") throws -> [ProducedArtifact] {
        let document: PDFDocument
        do {
            document = try PDFDocument(path: path)
        } catch PDFErrors.Open.passwordRequired {
            return []
        }
        guard document.pageCount > 0 else { return [] }
        guard let page = document.page(0) else { throw DocumentError("thumbnail: page 1 cannot be read") }
        let (pageWidth, pageHeight) = page.size
        guard pageWidth > 0, pageHeight > 0 else { throw DocumentError("thumbnail: page 1 has no size") }
        let scale = Double(width) / pageWidth
        let height = max(1, Int(min((pageHeight * scale).rounded(), Double(width * 4))))

        let surface = try CairoSurface(width: width, height: height)
        let context = try CairoContext(surface)
        context.paintWhite()
        context.scale(by: scale)
        page.render(into: context)
        try context.check("thumbnail: cairo cannot draw page 1")
        let png = try surface.pngBytes()

        var writer = ArtifactWriter(directory: outputDirectory, producer: producer, version: version)
        try writer.write("thumbnail.png", mimeType: "image/png", bytes: png)
        return writer.produced
    }
}
