import DepotCore
import DepotQueue
import DepotStore
import Foundation

/// What a person asks for when making an upload link, from the CLI or the API.
public struct UploadLinkRequest: Sendable {
    public var collection: String
    /// A folder inside the collection ("" for its top).
    public var folder: String
    /// nil: `http.upload_link_expiry`.
    public var lifetime: Duration?
    /// nil: `http.max_upload_size`.
    public var maxSize: Int64?
    public var maxFiles: Int?
    /// `UploadTypes` names; empty: any type.
    public var types: [String]
    public var clientIP: String?
    /// "cli", "api".
    public var createdBy: String

    public init(collection: String, folder: String = "", lifetime: Duration? = nil, maxSize: Int64? = nil, maxFiles: Int? = nil,
                types: [String] = [], clientIP: String? = nil, createdBy: String) {
        self.collection = collection
        self.folder = folder
        self.lifetime = lifetime
        self.maxSize = maxSize
        self.maxFiles = maxFiles
        self.types = types
        self.clientIP = clientIP
        self.createdBy = createdBy
    }
}

/// An upload link as listed and as made (with its URL): what `depot link upload --json` and
/// `depot link list --json` print and the API answers.
public struct UploadLinkView: Codable, Sendable, Equatable {
    public var id: String
    public var kind: String
    public var collection: String
    public var folder: String
    public var maxSize: Int64
    @Nullable public var maxFiles: Int?
    public var types: [String]
    @Nullable public var clientIP: String?
    public var createdAt: Timestamp
    public var expiresAt: Timestamp
    public var createdBy: String
    public var revoked: Bool
    /// Files taken or being taken through it.
    public var files: Int
    /// Only when made: the whole URL, to open in a browser or give to a tus client.
    public var url: String?

    public init(_ l: UploadLinkRecord, files: Int, url: String? = nil) {
        id = l.id
        kind = "upload"
        collection = l.collection
        folder = l.folder
        maxSize = l.maxSize
        maxFiles = l.maxFiles
        types = l.types
        clientIP = l.clientIP
        createdAt = Timestamp(nanoseconds: l.createdAtNanoseconds)
        expiresAt = Timestamp(seconds: l.expires)
        createdBy = l.createdBy
        revoked = l.revokedAtNanoseconds != nil
        self.files = files
        self.url = url
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, collection, folder, types, revoked, files, url
        case maxSize = "max_size", maxFiles = "max_files", clientIP = "client_ip", createdAt = "created_at"
        case expiresAt = "expires_at", createdBy = "created_by"
    }
}

/// One upload as `GET /api/v1/uploads` lists it.
public struct UploadView: Codable, Sendable, Equatable {
    public var id: String
    @Nullable public var linkID: String?
    public var collection: String
    public var path: String
    public var length: Int64
    public var offset: Int64
    public var state: UploadState
    @Nullable public var versionID: Int64?
    @Nullable public var error: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var expiresAt: Timestamp

    public init(_ u: UploadRecord) {
        id = u.id
        linkID = u.linkID
        collection = u.collection
        path = u.path
        length = u.length
        offset = u.received
        state = u.state
        versionID = u.versionID
        error = u.error
        createdAt = Timestamp(nanoseconds: u.createdAtNanoseconds)
        updatedAt = Timestamp(nanoseconds: u.updatedAtNanoseconds)
        expiresAt = Timestamp(seconds: u.expires)
    }

    enum CodingKeys: String, CodingKey {
        case id, collection, path, length, offset, state, error
        case linkID = "link_id", versionID = "version_id", createdAt = "created_at", updatedAt = "updated_at"
        case expiresAt = "expires_at"
    }
}

/// The kinds of file an upload link may be limited to: a media class ("video", "audio",
/// "image", "document"), a format ("pdf", "docx", "pptx", "xlsx", "markdown", "text"), or a
/// MIME type ("image/png", "video/*"). Checked against the type detected from the bytes
/// once an upload is complete; a client's own claim (`filetype`) only refuses early.
public enum UploadTypes {
    static let formats: [String: String] = [
        "pdf": "application/pdf",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "markdown": "text/markdown", "md": "text/markdown",
        "jpeg": "image/jpeg", "jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp",
        "mp4": "video/mp4", "webm": "video/webm", "mkv": "video/x-matroska", "mov": "video/quicktime",
        "mp3": "audio/mpeg", "flac": "audio/flac", "wav": "audio/wav", "zip": "application/zip",
    ]
    /// Media classes, by the names people use (singular and the queue's plural).
    static let classes: [String: String] = [
        "video": "video", "audio": "audio", "image": "images", "images": "images",
        "document": "documents", "documents": "documents",
    ]

    /// The names, lowercased, each checked; throws for one that names nothing.
    public static func parse(_ names: [String]) throws -> [String] {
        try names.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }.map { name in
            if classes[name] != nil || formats[name] != nil || name == "text" { return name }
            let parts = name.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
               name.utf8.allSatisfy({ isUnreserved($0) || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "+") }) {
                return name
            }
            throw LinkError.invalid("unknown file type '\(name)': use video, audio, image, document, text, a format "
                                    + "(\(formats.keys.sorted().joined(separator: ", "))) or a MIME type such as image/png or video/*")
        }
    }

    /// Whether a file of `mediaType` may come in under `allowed` (empty: anything).
    public static func allows(_ allowed: [String], mediaType: String) -> Bool {
        if allowed.isEmpty { return true }
        let type = mediaType.lowercased()
        return allowed.contains { name in
            if let mediaClass = classes[name] { return MediaClass.of(type) == mediaClass }
            if let format = formats[name] { return type == format }
            if name == "text" { return type.hasPrefix("text/") }
            if name.hasSuffix("/*") { return type.hasPrefix(name.dropLast()) }
            return type == name
        }
    }
}

/// Checks a path inside a collection that a client gave: relative, no empty (or blank), "."
/// or ".." segment, no control characters, no backslash; at most 1024 bytes.
func validUploadPath(_ path: String) -> Bool {
    guard !path.isEmpty, path.utf8.count <= 1024, !path.hasPrefix("/") else { return false }
    for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
        if segment.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || segment == "." || segment == ".." { return false }
        if segment.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f || $0 == "\\" }) { return false }
    }
    return true
}

/// A collection name as the inbox has them: one folder name.
func validCollectionName(_ name: String) -> Bool {
    validUploadPath(name) && !name.contains("/") && !name.hasPrefix(".")
}
