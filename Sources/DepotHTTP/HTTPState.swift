import DepotCore
import DepotStore
import Foundation
import Synchronization

/// The HTTP server's tables in the catalog: API tokens (hashed) and minted links (for
/// listing and revocation). Applied once by name, like every module's tables.
public let httpCatalogMigration = CatalogMigration(name: "http-1", sql: """
    CREATE TABLE http_tokens(
        id TEXT PRIMARY KEY,
        token_sha256 TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL CHECK(scope IN ('read', 'admin')),
        name TEXT NOT NULL,
        created_at_ns INTEGER NOT NULL,
        revoked_at_ns INTEGER);
    CREATE TABLE http_links(
        id TEXT PRIMARY KEY,
        target_kind TEXT NOT NULL CHECK(target_kind IN ('version', 'artifact')),
        target_id INTEGER NOT NULL,
        path TEXT NOT NULL,
        client_ip TEXT,
        created_at_ns INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at_ns INTEGER);
    """)

/// An API token's scope: read lists and fetches; admin also changes things.
public enum TokenScope: String, Sendable, CaseIterable {
    case read
    case admin
}

/// An API token as listed (never its secret).
public struct TokenInfo: Sendable, Equatable {
    public var id: String
    public var scope: TokenScope
    public var name: String
    public var createdAtNanoseconds: Int64
    public var revokedAtNanoseconds: Int64?
}

/// A minted link as recorded.
public struct LinkRecord: Sendable, Equatable {
    public var id: String
    public var target: LinkTarget
    public var path: String
    public var clientIP: String?
    public var createdAtNanoseconds: Int64
    public var expires: Int64
    public var createdBy: String
    public var revokedAtNanoseconds: Int64?
}

/// What a download serves: the blob, its name and the times and type that go in the headers.
public struct DownloadTarget: Sendable, Equatable {
    public var digest: Digest
    public var size: Int64
    public var fileName: String
    public var collection: String
    public var mimeType: String?
    public var modifiedAtNanoseconds: Int64
}

/// Why a link could not be minted.
public struct LinkError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// Tokens, links and the lookups the server makes, over the catalog's connection.
/// Every call blocks (SQLite): callers on the concurrency pool hop to a thread pool first.
public struct HTTPState: Sendable {
    public let catalog: SQLiteCatalog
    /// Links resolved in the last second (shared by every copy of this state).
    let recentLinks = RecentLinks()

    public init(catalog: SQLiteCatalog) { self.catalog = catalog }

    // MARK: tokens

    /// Creates a token; returns its id and the secret, shown once ("dpt_<id>_<secret>").
    public func createToken(scope: TokenScope, name: String) throws -> (id: String, token: String) {
        let id = hexString(try randomBytes(6))
        let token = "dpt_\(id)_" + base64URL(try randomBytes(24))
        try catalog.withConnection { db in
            try db.query("INSERT INTO http_tokens(id, token_sha256, scope, name, created_at_ns) VALUES(?, ?, ?, ?, ?)",
                         [.text(id), .text(Self.hash(token)), .text(scope.rawValue), .text(name), .integer(wallClockNanoseconds())])
        }
        return (id, token)
    }

    /// The scope of a live token, or nil. Tokens are 190 random bits, so a plain SHA-256
    /// (no slow hash) is enough to keep a stolen catalog from yielding them.
    public func scope(ofToken token: String) throws -> TokenScope? {
        guard token.hasPrefix("dpt_"), token.utf8.count < 128 else { return nil }
        return try catalog.withConnection { db in
            try db.query("SELECT scope FROM http_tokens WHERE token_sha256 = ? AND revoked_at_ns IS NULL",
                         [.text(Self.hash(token))]).first.flatMap { TokenScope(rawValue: $0.text(0)) }
        }
    }

    public func tokens() throws -> [TokenInfo] {
        try catalog.withConnection { db in
            try db.query("SELECT id, scope, name, created_at_ns, revoked_at_ns FROM http_tokens ORDER BY created_at_ns").map {
                TokenInfo(id: $0.text(0), scope: TokenScope(rawValue: $0.text(1)) ?? .read, name: $0.text(2),
                          createdAtNanoseconds: $0.int(3), revokedAtNanoseconds: $0.optionalInt(4))
            }
        }
    }

    /// Revokes a token; false when there is no live token with that id.
    public func revokeToken(id: String) throws -> Bool {
        try catalog.withConnection { db in
            try db.query("UPDATE http_tokens SET revoked_at_ns = ? WHERE id = ? AND revoked_at_ns IS NULL",
                         [.integer(wallClockNanoseconds()), .text(id)])
            return db.changes > 0
        }
    }

    static func hash(_ token: String) -> String { SHA256Hasher.digest(Array(token.utf8)).hex }

    // MARK: links

    /// Resolves what a link to `target` serves, or nil when there is no such version/artifact.
    public func resolve(_ target: LinkTarget) throws -> DownloadTarget? {
        try catalog.withConnection { db in try Self.resolve(target, db: db) }
    }

    static func resolve(_ target: LinkTarget, db: SQLiteConnection) throws -> DownloadTarget? {
        switch target {
        case .version(let id):
            guard let row = try db.query("""
                SELECT v.blob_digest, v.size, d.path, c.name, v.ingested_at_ns FROM versions v
                JOIN documents d ON d.id = v.document_id JOIN collections c ON c.id = d.collection_id
                WHERE v.id = ?
                """, [.integer(id)]).first, let digest = Digest(hex: row.text(0)) else { return nil }
            return DownloadTarget(digest: digest, size: row.int(1), fileName: baseName(row.text(2)), collection: row.text(3),
                                  mimeType: nil, modifiedAtNanoseconds: row.int(4))
        case .artifact(let id):
            guard let row = try db.query("""
                SELECT a.blob_digest, a.size, a.kind, c.name, a.created_at_ns, a.mime_type, d.path FROM artifacts a
                JOIN versions v ON v.id = a.version_id JOIN documents d ON d.id = v.document_id
                JOIN collections c ON c.id = d.collection_id WHERE a.id = ?
                """, [.integer(id)]).first, let digest = Digest(hex: row.text(0)) else { return nil }
            // "report.pdf.text.txt": the document's name keeps the artifact recognisable once saved.
            return DownloadTarget(digest: digest, size: row.int(1), fileName: baseName(row.text(6)) + "." + row.text(2),
                                  collection: row.text(3), mimeType: row.text(5), modifiedAtNanoseconds: row.int(4))
        }
    }

    /// Resolves a verified link's target and checks that its link id was minted here and not
    /// revoked, in one trip to the catalog (the download hot path); remembered for a second.
    func resolveForDownload(_ link: SignedLink, target: LinkTarget) throws -> ResolvedDownload? {
        let resolved = try catalog.withConnection { db -> DownloadTarget? in
            let rows = try db.query("SELECT revoked_at_ns, target_kind, target_id FROM http_links WHERE id = ?", [.text(link.linkID)])
            guard let row = rows.first, row.optionalInt(0) == nil,
                  row.text(1) == (target.letter == "v" ? "version" : "artifact"), row.int(2) == target.id else { return nil }
            return try Self.resolve(target, db: db)
        }
        guard let resolved else { return nil }
        let download = ResolvedDownload(resolved)
        recentLinks.remember(link, target: target, resolved: download)
        return download
    }

    /// Mints and records a link. `lifetime` is capped by `maxLifetime` (an error past it).
    public func mintLink(target: LinkTarget, signer: LinkSigner, lifetime: Duration, maxLifetime: Duration,
                         clientIP: String?, createdBy: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws
        -> (link: SignedLink, record: LinkRecord) {
        guard lifetime > .zero else { throw LinkError(message: "a link's lifetime must be positive") }
        guard lifetime <= maxLifetime else {
            throw LinkError(message: "a link may live at most \(formatDuration(maxLifetime)) for this collection (asked: \(formatDuration(lifetime)))")
        }
        guard let resolved = try resolve(target) else {
            throw LinkError(message: "no \(target.letter == "v" ? "version" : "artifact") with id \(target.id)")
        }
        let id = try LinkSigner.newLinkID()
        let path = LinkSigner.path(for: target, fileName: resolved.fileName)
        let expires = now + lifetime.components.seconds
        let link = signer.sign(path: path, expires: expires, clientIP: clientIP, linkID: id)
        let record = LinkRecord(id: id, target: target, path: path, clientIP: clientIP,
                                createdAtNanoseconds: wallClockNanoseconds(), expires: expires, createdBy: createdBy)
        try catalog.withConnection { db in
            try db.query("""
                INSERT INTO http_links(id, target_kind, target_id, path, client_ip, created_at_ns, expires_at, created_by)
                VALUES(?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(id), .text(target.letter == "v" ? "version" : "artifact"), .integer(target.id), .text(path),
                      clientIP.map { .text($0) } ?? .null, .integer(record.createdAtNanoseconds), .integer(expires), .text(createdBy)])
        }
        return (link, record)
    }

    /// Revokes a link; false when there is no such unrevoked link.
    public func revokeLink(id: String) throws -> Bool {
        recentLinks.forget(id)
        return try catalog.withConnection { db in
            try db.query("UPDATE http_links SET revoked_at_ns = ? WHERE id = ? AND revoked_at_ns IS NULL",
                         [.integer(wallClockNanoseconds()), .text(id)])
            return db.changes > 0
        }
    }

    public func links(limit: Int, offset: Int) throws -> [LinkRecord] {
        try catalog.withConnection { db in
            try db.query("""
                SELECT id, target_kind, target_id, path, client_ip, created_at_ns, expires_at, created_by, revoked_at_ns
                FROM http_links ORDER BY created_at_ns DESC, id LIMIT ? OFFSET ?
                """, [.integer(Int64(limit)), .integer(Int64(offset))]).map { row in
                LinkRecord(id: row.text(0), target: row.text(1) == "version" ? .version(row.int(2)) : .artifact(row.int(2)),
                           path: row.text(3), clientIP: row.optionalInt(4) == nil && row.text(4).isEmpty ? nil : row.text(4),
                           createdAtNanoseconds: row.int(5), expires: row.int(6), createdBy: row.text(7),
                           revokedAtNanoseconds: row.optionalInt(8))
            }
        }
    }

    /// The collection a target belongs to (for its maximum link lifetime).
    public func collection(of target: LinkTarget) throws -> String? { try resolve(target)?.collection }
}

/// "2h", "7d", "90s".
public func formatDuration(_ d: Duration) -> String {
    let s = d.components.seconds
    if s % 86400 == 0 { return "\(s / 86400)d" }
    if s % 3600 == 0 { return "\(s / 3600)h" }
    if s % 60 == 0 { return "\(s / 60)m" }
    return "\(s)s"
}

/// The most a link to `collection` may live: its `[collections.NAME]` table or its
/// inbox/NAME/.depot.toml, else `http.max_link_lifetime`.
public func maxLinkLifetime(config: DepotConfig, layout: RootLayout, collection: String) -> Duration {
    let file = layout.inbox(collection: collection) + "/.depot.toml"
    let local = (try? readTextFile(file)).flatMap { try? CollectionOverrides.parse(toml: $0, source: file) }
    return config.settings(forCollection: collection, overrideFile: local).maxLinkLifetime
}

/// Links verified and resolved in the last `lifetime`: a link fetched again and again (a shared
/// file, a script polling it) then costs no HMAC, no catalog query and no hop to a blocking
/// thread — its expiry and bound address are still checked on every request. A version
/// or an artifact never changes once stored, so only revocation can change the answer: a link
/// revoked through this server's API stops working at once, one revoked by another process
/// (`depot link revoke`) within `lifetime`.
final class RecentLinks: Sendable {
    static let lifetimeNanoseconds: Int64 = 1_000_000_000
    static let capacity = 10_000
    private struct Entry { let link: SignedLink; let target: LinkTarget; let resolved: ResolvedDownload; let at: Int64 }
    private let entries = Mutex<[String: Entry]>([:])

    /// What `link` resolved to, if this very link — signature and all — was verified and
    /// resolved in the last second.
    func lookup(_ link: SignedLink, target: LinkTarget) -> ResolvedDownload? {
        let now = monotonicNanoseconds()
        return entries.withLock { entries in
            guard let entry = entries[link.linkID] else { return nil }
            guard now - entry.at < Self.lifetimeNanoseconds else {
                entries[link.linkID] = nil
                return nil
            }
            return entry.link == link && entry.target == target ? entry.resolved : nil
        }
    }

    /// Remembers a link that passed the signature check and resolved to `resolved`.
    func remember(_ link: SignedLink, target: LinkTarget, resolved: ResolvedDownload) {
        let now = monotonicNanoseconds()
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[link.linkID] = Entry(link: link, target: target, resolved: resolved, at: now)
        }
    }

    func forget(_ linkID: String) {
        _ = entries.withLock { $0.removeValue(forKey: linkID) }
    }
}
