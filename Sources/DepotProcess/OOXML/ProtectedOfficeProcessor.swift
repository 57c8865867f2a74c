/// Extract for a password-protected Word, PowerPoint or Excel file (ECMA-376 Part 2's
/// encrypted package: the OOXML ZIP encrypted inside a compound file). Nothing can be read
/// without the password, so it yields metadata.json with `status: "password_required"`, like
/// an encrypted PDF: the document's state, recorded as processed, not a failure to retry.
public struct ProtectedOfficeProcessor: Processor {
    public var choice: ProcessorChoice { .protectedOffice }
    public let version = "1"
    public let artifactKinds = ["metadata.json": "application/json"]

    public init() {}

    public func process(_ input: ProcessorInput) throws -> [ProducedArtifact] {
        var writer = ArtifactWriter(directory: input.outputDirectory, producer: name, version: version)
        try writer.writeJSON("metadata.json", [
            "format": "ooxml", "encrypted": true, "status": "password_required",
            "message": "encrypted: a password is needed to open this Office document",
        ])
        return writer.produced
    }
}
