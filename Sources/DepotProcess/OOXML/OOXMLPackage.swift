import CZip
import DepotCore
import Foundation

/// An OOXML package (a ZIP, ECMA-376 Part 2) opened read-only and read entry by entry into
/// memory, with the bounds a hostile archive needs:
///
/// - at most `maxZipEntries` entries;
/// - per entry, the declared size and the bytes actually inflated both stay under
///   `maxEntryBytes` and under `maxCompressionRatio` × the compressed size (declared sizes can
///   lie, so the inflated bytes are counted as they come);
/// - all entries read together stay under `maxTotalBytes`;
/// - entry names are only ever looked up, never used as paths: names with `..` segments, a
///   leading `/` or a drive letter are left out of the index, so nothing can reach them.
///
/// Owns the libzip handle, closed in deinit.
final class OOXMLPackage {
    private let archive: OpaquePointer
    private let limits: DocumentLimits
    /// Lower-cased part name → entry index (OPC part names compare case-insensitively).
    private var index: [String: UInt64] = [:]
    /// Names that were refused as unsafe.
    private(set) var unsafeNames: [String] = []
    private var totalRead: Int64 = 0
    /// What kind of document this is meant to be, for messages ("DOCX").
    let kind: String

    /// - Throws: `DocumentError` when the file is not a readable ZIP or has too many entries.
    init(path: String, kind: String, limits: DocumentLimits) throws {
        self.limits = limits
        self.kind = kind
        let archive = try Self.open(path: path, kind: kind)
        self.archive = archive
        let count = zip_get_num_entries(archive, 0)
        guard count >= 0 else { throw DocumentError("not a \(kind): unreadable ZIP directory") }
        guard count <= Int64(limits.maxZipEntries) else {
            throw DocumentError("zip has \(count) entries, more than the \(limits.maxZipEntries) allowed")
        }
        for i in 0..<UInt64(count) {
            guard let raw = zip_get_name(archive, i, zip_flags_t(ZIP_FL_ENC_GUESS)) else { continue }
            let name = String(cString: raw)
            guard Self.isSafeName(name) else {
                unsafeNames.append(name)
                continue
            }
            // OPC part names are unique, case-insensitively (ECMA-376 Part 2 §9.1.1.1, M1.12).
            // Two entries with one name are how a file shows different content to different
            // readers (Apache POI refuses them since CVE-2025-31672; its unicode-path.docx
            // names a second word/document.xml through a UTF-8 path extra field).
            let key = name.lowercased()
            if index[key] != nil {
                throw DocumentError("zip has more than one entry named \(name) (ambiguous package; refused)")
            }
            index[key] = i
        }
        // The same question for the names as stored, before libzip applies an entry's UTF-8
        // path extra field (0x7075): a reader that ignores that field must not find a part
        // under a name that libzip gives to another entry, nor one name twice (POI's
        // unicode-path.docx swaps word/document.xml and another entry's name that way).
        if let stored = try? ZipDirectory.read(ReadOnlyFile(path: path))?.storedNames(), stored.count == Int(count) {
            var owners: [String: Int] = [:]
            for (i, name) in stored.enumerated() {
                guard let key = name?.lowercased() else { continue }
                if let owner = index[key].map(Int.init) ?? owners[key], owner != i {
                    throw DocumentError("zip has more than one entry named \(name!) (ambiguous package; refused)")
                }
                owners[key] = i
            }
        }
    }

    /// Opens the ZIP with libzip's consistency checks (`ZIP_CHECKCONS`: every local header
    /// agrees with its central directory entry, nothing follows the end record). Two shapes
    /// that real-world packages have, and Office, POI and pandoc read, fail those checks:
    ///
    /// - bytes after the end-of-central-directory record (a newline a transfer appended:
    ///   several of Apache POI's test files): reopened over the bytes up to the record's end,
    ///   with the checks still on;
    /// - local headers whose modification time differs from the central directory's (pandoc's
    ///   alternate_document_path.docx): opened once this package's own comparison finds that
    ///   name, method, flags, CRC and sizes all agree, so only the time (which nothing here
    ///   reads) differs.
    private static func open(path: String, kind: String) throws -> OpaquePointer {
        var code: Int32 = 0
        if let archive = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code) { return archive }
        let failure = DocumentError("not a \(kind): \(zipMessage(code)) (a damaged or truncated ZIP)")
        guard code == ZIP_ER_INCONS, let directory = try? ZipDirectory.read(ReadOnlyFile(path: path)) else { throw failure }
        if directory.archiveEnd < directory.fileSize,
           let archive = openWindow(path, length: directory.archiveEnd, flags: ZIP_RDONLY | ZIP_CHECKCONS) {
            return archive
        }
        if (try? directory.headersAgreeExceptTimes()) == true,
           let archive = openWindow(path, length: directory.archiveEnd, flags: ZIP_RDONLY) {
            return archive
        }
        throw failure
    }

    /// The ZIP made of the file's first `length` bytes, or nil when libzip refuses it.
    private static func openWindow(_ path: String, length: Int64, flags: Int32) -> OpaquePointer? {
        var error = zip_error_t()
        zip_error_init(&error)
        defer { zip_error_fini(&error) }
        guard let source = zip_source_file_create(path, 0, length, &error) else { return nil }
        if let archive = zip_open_from_source(source, flags, &error) { return archive }
        zip_source_free(source)
        return nil
    }

    deinit { zip_discard(archive) }

    /// Whether a part exists.
    func contains(_ name: String) -> Bool { index[name.lowercased()] != nil }

    /// All safe part names, in archive order.
    var partNames: [String] {
        index.sorted { $0.value < $1.value }.compactMap { key, i in
            zip_get_name(archive, i, zip_flags_t(ZIP_FL_ENC_GUESS)).map { String(cString: $0) } ?? key
        }
    }

    /// The bytes of a part, or nil when the package has no such part.
    /// - Throws: `DocumentError` when the entry breaks a limit or cannot be inflated.
    func read(_ name: String) throws -> [UInt8]? {
        guard let i = index[name.lowercased()] else { return nil }
        var st = zip_stat_t()
        zip_stat_init(&st)
        guard zip_stat_index(archive, i, 0, &st) == 0 else { throw DocumentError("zip entry \(name): \(lastError())") }
        let declared = st.valid & UInt64(ZIP_STAT_SIZE) != 0 ? Int64(clamping: st.size) : 0
        let compressed = st.valid & UInt64(ZIP_STAT_COMP_SIZE) != 0 ? Int64(clamping: st.comp_size) : 0
        if st.valid & UInt64(ZIP_STAT_ENCRYPTION_METHOD) != 0 && st.encryption_method != UInt16(ZIP_EM_NONE) {
            throw DocumentError("zip entry \(name) is encrypted")
        }
        try check(name: name, inflated: declared, compressed: compressed, declaredOnly: true)

        guard let file = zip_fopen_index(archive, i, 0) else { throw DocumentError("zip entry \(name): \(lastError())") }
        defer { zip_fclose(file) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(min(declared, 16 << 20)))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { zip_fread(file, $0.baseAddress, UInt64($0.count)) }
            if n < 0 {
                let message = zip_error_strerror(zip_file_get_error(file)).map { String(cString: $0) } ?? "read error"
                throw DocumentError("zip entry \(name) cannot be inflated: \(message)")
            }
            if n == 0 { break }
            bytes += chunk[0..<Int(n)]
            // Counted, not trusted: the declared size may be a lie.
            try check(name: name, inflated: Int64(bytes.count), compressed: compressed, declaredOnly: false)
        }
        totalRead += Int64(bytes.count)
        guard totalRead <= limits.maxTotalBytes else {
            throw DocumentError("zip entries inflate to more than \(limits.maxTotalBytes) bytes in total")
        }
        return bytes
    }

    private func check(name: String, inflated: Int64, compressed: Int64, declaredOnly: Bool) throws {
        let how = declaredOnly ? "declares" : "inflates to"
        if inflated > limits.maxEntryBytes {
            throw DocumentError("zip entry \(name) \(how) more than \(limits.maxEntryBytes) bytes")
        }
        if inflated > limits.ratioFloorBytes && inflated > max(compressed, 1) * limits.maxCompressionRatio {
            throw DocumentError("zip entry \(name) exceeds \(limits.maxCompressionRatio):1 compression ratio (zip bomb)")
        }
        if totalRead + inflated > limits.maxTotalBytes {
            throw DocumentError("zip entries inflate to more than \(limits.maxTotalBytes) bytes in total")
        }
    }

    /// An XML reader over a part, or nil when the part is missing.
    func xml(_ name: String) throws -> XMLStreamReader? {
        guard let bytes = try read(name) else { return nil }
        return try XMLStreamReader(bytes: bytes, part: name, limits: limits)
    }

    // MARK: relationships

    /// One relationship of a part (ECMA-376 Part 2 §9.3).
    struct Relationship {
        var id: String
        var type: String
        /// The target resolved to a part name ("ppt/slides/slide1.xml"), nil for an external
        /// target or one that climbs out of the package.
        var part: String?
    }

    /// The relationships of `source` ("" for the package itself), by id.
    func relationships(of source: String) throws -> [String: Relationship] {
        let folder = source.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let relsName = (folder.isEmpty ? "" : folder + "/") + "_rels/" + (source.split(separator: "/").last.map(String.init) ?? "") + ".rels"
        guard let reader = try xml(relsName) else { return [:] }
        var result: [String: Relationship] = [:]
        while let event = try reader.next() {
            guard case .start(let name, _) = event, name.local == "Relationship" else { continue }
            guard let id = reader.attribute("Id"), let target = reader.attribute("Target") else { continue }
            let type = reader.attribute("Type") ?? ""
            let external = reader.attribute("TargetMode") == "External"
            let part = external ? nil : Self.resolve(target, from: folder)
            result[id] = Relationship(id: id, type: type, part: part)
        }
        return result
    }

    /// The first relationship of `source` whose type ends with `typeSuffix`.
    func relationship(of source: String, typeSuffix: String) throws -> Relationship? {
        try relationships(of: source).values.sorted { $0.id < $1.id }.first { $0.type.hasSuffix(typeSuffix) }
    }

    /// A relationship target as a part name: relative to the source's folder, or absolute from
    /// the package root; nil when it would leave the package.
    static func resolve(_ target: String, from folder: String) -> String? {
        let decoded = target.removingPercentEncoding ?? target
        var segments: [String] = decoded.hasPrefix("/") ? [] : folder.split(separator: "/").map(String.init)
        for segment in decoded.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..":
                if segments.isEmpty { return nil }
                segments.removeLast()
            default: segments.append(String(segment))
            }
        }
        return segments.isEmpty ? nil : segments.joined(separator: "/")
    }

    /// Whether an entry name is a plain relative name (no `..`, not absolute, no drive, no NUL).
    static func isSafeName(_ name: String) -> Bool {
        if name.isEmpty || name.hasPrefix("/") || name.hasPrefix("\\") || name.contains("\0") { return false }
        if name.count >= 2, name.dropFirst().first == ":" { return false }
        for segment in name.split(whereSeparator: { $0 == "/" || $0 == "\\" }) where segment == ".." { return false }
        return true
    }

    // MARK: shared parts

    /// docProps/core.xml and docProps/app.xml as metadata keys (snake_case), found through
    /// the package relationships, falling back to their usual names.
    func documentProperties() throws -> [String: Any] {
        var metadata: [String: Any] = [:]
        let core = try relationship(of: "", typeSuffix: "/core-properties")?.part ?? "docProps/core.xml"
        let app = try relationship(of: "", typeSuffix: "/extended-properties")?.part ?? "docProps/app.xml"
        for (part, numeric) in [(core, false), (app, true)] {
            guard let reader = try xml(part) else { continue }
            var depth = 0
            while let event = try reader.next() {
                switch event {
                case .start(let name, let empty):
                    depth += 1
                    // Only simple children of the root: HeadingPairs, TitlesOfParts are vectors.
                    if depth == 2 {
                        let text = try reader.elementText(empty: empty).trimmingCharacters(in: .whitespacesAndNewlines)
                        depth -= 1
                        guard !text.isEmpty, !["HeadingPairs", "TitlesOfParts", "HLinks", "DigSig"].contains(name.local) else { continue }
                        let key = snakeCase(name.local)
                        if numeric, let number = Int(text) { metadata[key] = number } else { metadata[key] = text }
                    } else if empty {
                        depth -= 1
                    }
                case .end: depth -= 1
                case .text: break
                }
            }
        }
        return metadata
    }

    /// The declared (uncompressed) size of a part, from the central directory; nothing is inflated.
    func declaredSize(_ name: String) -> Int64? {
        guard let i = index[name.lowercased()] else { return nil }
        var st = zip_stat_t()
        zip_stat_init(&st)
        guard zip_stat_index(archive, i, 0, &st) == 0, st.valid & UInt64(ZIP_STAT_SIZE) != 0 else { return nil }
        return Int64(clamping: st.size)
    }

    /// The content type [Content_Types].xml gives each part: an Override by part name, else
    /// the Default for the name's extension (ECMA-376 Part 2 §10.1.2.4), lower-cased keys.
    func contentTypes() throws -> (overrides: [String: String], defaults: [String: String]) {
        var overrides: [String: String] = [:], defaults: [String: String] = [:]
        guard let reader = try xml("[Content_Types].xml") else { return ([:], [:]) }
        while let event = try reader.next() {
            guard case .start(let name, _) = event, let type = reader.attribute("ContentType") else { continue }
            if name.local == "Override", let part = reader.attribute("PartName") {
                overrides[String(part.drop(while: { $0 == "/" })).lowercased()] = type
            } else if name.local == "Default", let ext = reader.attribute("Extension") {
                defaults[ext.lowercased()] = type
            }
        }
        return (overrides, defaults)
    }

    /// The media and embedded objects under `folders` (word/media/, ppt/embeddings/, …):
    /// name (the part's), content type and size, in archive order; nothing is inflated.
    func embeddedParts(under folders: [String]) throws -> [[String: Any]] {
        let lowered = folders.map { $0.lowercased() }
        let names = partNames.filter { name in lowered.contains { name.lowercased().hasPrefix($0) } && !name.hasSuffix("/") }
        guard !names.isEmpty else { return [] }
        let types = try contentTypes()
        return names.map { name in
            let ext = name.split(separator: ".").last.map { $0.lowercased() } ?? ""
            let type = types.overrides[name.lowercased()] ?? types.defaults[ext] ?? "application/octet-stream"
            return ["name": name, "type": type, "size": declaredSize(name) ?? 0]
        }
    }

    /// The package thumbnail (docProps/thumbnail.*) bytes, when there is one.
    func thumbnail() throws -> [UInt8]? {
        if let part = try relationship(of: "", typeSuffix: "/metadata/thumbnail")?.part, let bytes = try read(part) {
            return bytes
        }
        for name in ["docProps/thumbnail.jpeg", "docProps/thumbnail.jpg", "docProps/thumbnail.png"] {
            if let bytes = try read(name) { return bytes }
        }
        return nil
    }

    private func lastError() -> String {
        zip_error_strerror(zip_get_error(archive)).map { String(cString: $0) } ?? "zip error"
    }

    private static func zipMessage(_ code: Int32) -> String {
        var error = zip_error_t()
        zip_error_init_with_code(&error, code)
        defer { zip_error_fini(&error) }
        return zip_error_strerror(&error).map { String(cString: $0) } ?? "zip error \(code)"
    }
}
