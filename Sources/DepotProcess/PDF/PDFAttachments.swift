import CPoppler
import DepotCore

/// The files embedded in a PDF (its /EmbeddedFiles name tree, through
/// `poppler_document_get_attachments`); the list and its attachments are freed in deinit.
final class PDFAttachmentList {
    private let list: UnsafeMutablePointer<GList>?

    init(document: PDFDocument) {
        list = poppler_document_has_attachments(document.handle) != 0 ? poppler_document_get_attachments(document.handle) : nil
    }

    deinit { if let list { cpoppler_attachment_list_free(list) } }

    struct Attachment {
        var name: String
        var description: String?
        /// The size the PDF declares (/Params /Size); nil when it declares none.
        var size: Int?
        fileprivate let handle: UnsafeMutablePointer<PopplerAttachment>

        /// Writes the attachment's bytes to a new file at `path`.
        /// - Throws: `DocumentError` when poppler cannot write it.
        func save(to path: String) throws {
            var error: UnsafeMutablePointer<GError>?
            guard poppler_attachment_save(handle, path, &error) != 0 else {
                let message = error.map { String(cString: $0.pointee.message) } ?? "unknown error"
                if let error { g_error_free(error) }
                throw DocumentError("embedded file \(name) cannot be written: \(message)")
            }
        }
    }

    /// The attachments, in the document's order, valid while this list lives.
    var attachments: [Attachment] {
        var result: [Attachment] = []
        var node = list
        while let current = node {
            node = current.pointee.next
            guard let raw = current.pointee.data?.assumingMemoryBound(to: PopplerAttachment.self) else { continue }
            let name = raw.pointee.name.map { String(cString: $0) } ?? ""
            let description = raw.pointee.description.map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
            result.append(Attachment(name: name, description: description, size: Int(exactly: raw.pointee.size).flatMap { $0 >= 0 ? $0 : nil }, handle: raw))
        }
        return result
    }
}
