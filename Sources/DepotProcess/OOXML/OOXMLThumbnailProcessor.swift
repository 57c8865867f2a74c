/// Thumbnail for Word and PowerPoint files → the package's own picture (docProps/thumbnail.*,
/// found through the package relationships) as thumbnail.jpg or thumbnail.png, byte for byte.
///
/// Nothing here draws a page: without a renderer for DOCX or PPTX, the picture Office saved
/// in the package is the only one there is. A package without one, or with only a WMF/EMF one
/// (which nothing downstream can show), has no picture to give: the job succeeds with no
/// artifact. The `width` parameter is not applied: the picture is passed on as it was saved
/// (scaling it needs an image library, which the FFmpeg wrappers will bring).
public struct OOXMLThumbnailProcessor: DocumentProcessor {
    public var choice: ProcessorChoice { .ooxmlThumbnail }
    public let version = "1"
    public let artifactKinds = ["thumbnail.jpg": "image/jpeg", "thumbnail.png": "image/png"]
    public let limits: DocumentLimits

    public init(limits: DocumentLimits = DocumentLimits()) {
        self.limits = limits
    }

    public func process(_ input: ProcessorInput, limits: DocumentLimits) throws -> [ProducedArtifact] {
        try Self.copyThumbnail(from: input.path, mediaType: input.mediaType, into: input.outputDirectory, limits: limits,
                               producer: name, version: version)
    }

    /// Writes the package thumbnail of the DOCX or PPTX at `path` into `outputDirectory`, if
    /// it has a JPEG or PNG one.
    /// - Throws: `DocumentError` when the package cannot be read (the same checks as extract's).
    public static func copyThumbnail(from path: String, mediaType: String, into outputDirectory: String,
                                     limits: DocumentLimits = DocumentLimits(), producer: String = "depot-ooxml-thumbnail",
                                     version: String = "1") throws -> [ProducedArtifact] {
        let package = try OOXMLPackage(path: path, kind: mediaType == PPTXProcessor.mediaType ? "PPTX" : "DOCX", limits: limits)
        var writer = ArtifactWriter(directory: outputDirectory, producer: producer, version: version)
        if let thumbnail = try package.thumbnail() { _ = try writer.writeThumbnail(thumbnail) }
        return writer.produced
    }
}
