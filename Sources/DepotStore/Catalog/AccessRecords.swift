import DepotCore

/// An API token's scope: read lists and fetches; admin also changes things.
public enum TokenScope: String, Sendable, CaseIterable, Codable {
    case read
    case admin
}

/// An API token as listed (never its secret).
public struct TokenInfo: Sendable, Equatable, Codable {
    public var id: String
    public var scope: TokenScope
    public var name: String
    public var createdAt: Timestamp
    @Nullable public var revokedAt: Timestamp?

    enum CodingKeys: String, CodingKey {
        case id, scope, name
        case createdAt = "created_at", revokedAt = "revoked_at"
    }
}

/// What a link names: a version of a document or an artifact, by id — never a filesystem path.
public enum LinkTarget: Sendable, Equatable {
    case version(Int64)
    case artifact(Int64)

    /// "version" or "artifact", as the API and the links table name it.
    public var kindName: String {
        switch self {
        case .version: return "version"
        case .artifact: return "artifact"
        }
    }

    public var id: Int64 {
        switch self {
        case .version(let id), .artifact(let id): return id
        }
    }
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

    public init(id: String, target: LinkTarget, path: String, clientIP: String?, createdAtNanoseconds: Int64, expires: Int64,
                createdBy: String, revokedAtNanoseconds: Int64? = nil) {
        self.id = id
        self.target = target
        self.path = path
        self.clientIP = clientIP
        self.createdAtNanoseconds = createdAtNanoseconds
        self.expires = expires
        self.createdBy = createdBy
        self.revokedAtNanoseconds = revokedAtNanoseconds
    }
}

/// Who may reach the catalog over HTTP: API tokens (stored hashed) and the links minted for
/// downloads (for listing and revocation). The only code that holds SQL for their tables;
/// the HTTP server mints, signs and checks, and calls this to keep the records.
public enum AccessRecords {
    /// "http-1": tokens and links (named for the server that first kept them; a released
    /// migration keeps its name).
    static let migrations: [CatalogMigration] = [
        CatalogMigration(name: "http-1", sqlite: """
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
            """, postgres: """
            CREATE TABLE http_tokens(
                id TEXT PRIMARY KEY,
                token_sha256 TEXT NOT NULL UNIQUE,
                scope TEXT NOT NULL CHECK(scope IN ('read', 'admin')),
                name TEXT NOT NULL,
                created_at_ns BIGINT NOT NULL,
                revoked_at_ns BIGINT);
            CREATE TABLE http_links(
                id TEXT PRIMARY KEY,
                target_kind TEXT NOT NULL CHECK(target_kind IN ('version', 'artifact')),
                target_id BIGINT NOT NULL,
                path TEXT NOT NULL,
                client_ip TEXT,
                created_at_ns BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                created_by TEXT NOT NULL,
                revoked_at_ns BIGINT);
            """),
    ]

    // MARK: tokens

    public static func addToken(id: String, sha256 hash: String, scope: TokenScope, name: String, in tx: any CatalogTransaction) throws {
        try tx.execute("INSERT INTO http_tokens(id, token_sha256, scope, name, created_at_ns) VALUES(?, ?, ?, ?, ?)",
                       [.text(id), .text(hash), .text(scope.rawValue), .text(name), .integer(wallClockNanoseconds())])
    }

    /// The scope of the live token with this hash, or nil.
    public static func scope(ofTokenSHA256 hash: String, in tx: any CatalogTransaction) throws -> TokenScope? {
        try tx.query("SELECT scope FROM http_tokens WHERE token_sha256 = ? AND revoked_at_ns IS NULL", [.text(hash)])
            .first.flatMap { TokenScope(rawValue: $0.text(0)) }
    }

    public static func tokens(in tx: any CatalogTransaction) throws -> [TokenInfo] {
        try tx.query("SELECT id, scope, name, created_at_ns, revoked_at_ns FROM http_tokens ORDER BY created_at_ns").map {
            TokenInfo(id: $0.text(0), scope: TokenScope(rawValue: $0.text(1)) ?? .read, name: $0.text(2),
                      createdAt: Timestamp(nanoseconds: $0.int(3)), revokedAt: $0.optionalInt(4).map(Timestamp.init(nanoseconds:)))
        }
    }

    /// Revokes a token; false when there is no live token with that id.
    public static func revokeToken(id: String, in tx: any CatalogTransaction) throws -> Bool {
        try tx.execute("UPDATE http_tokens SET revoked_at_ns = ? WHERE id = ? AND revoked_at_ns IS NULL",
                       [.integer(wallClockNanoseconds()), .text(id)]) > 0
    }

    // MARK: links

    public static func addLink(_ link: LinkRecord, in tx: any CatalogTransaction) throws {
        try tx.execute("""
            INSERT INTO http_links(id, target_kind, target_id, path, client_ip, created_at_ns, expires_at, created_by)
            VALUES(?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(link.id), .text(link.target.kindName), .integer(link.target.id), .text(link.path), .string(link.clientIP),
                  .integer(link.createdAtNanoseconds), .integer(link.expires), .text(link.createdBy)])
    }

    /// Whether the link with this id was minted for `target` and is not revoked.
    public static func isLive(linkID: String, target: LinkTarget, in tx: any CatalogTransaction) throws -> Bool {
        guard let row = try tx.query("SELECT revoked_at_ns, target_kind, target_id FROM http_links WHERE id = ?", [.text(linkID)]).first
        else { return false }
        return row.optionalInt(0) == nil && row.text(1) == target.kindName && row.int(2) == target.id
    }

    /// Revokes a link; false when there is no such unrevoked link.
    public static func revokeLink(id: String, in tx: any CatalogTransaction) throws -> Bool {
        try tx.execute("UPDATE http_links SET revoked_at_ns = ? WHERE id = ? AND revoked_at_ns IS NULL",
                       [.integer(wallClockNanoseconds()), .text(id)]) > 0
    }

    /// Links, newest first.
    public static func links(limit: Int, offset: Int, in tx: any CatalogTransaction) throws -> [LinkRecord] {
        try tx.query("""
            SELECT id, target_kind, target_id, path, client_ip, created_at_ns, expires_at, created_by, revoked_at_ns
            FROM http_links ORDER BY created_at_ns DESC, id LIMIT ? OFFSET ?
            """, [.integer(Int64(limit)), .integer(Int64(offset))]).map { row in
            LinkRecord(id: row.text(0), target: row.text(1) == "version" ? .version(row.int(2)) : .artifact(row.int(2)),
                       path: row.text(3), clientIP: row.optionalText(4), createdAtNanoseconds: row.int(5),
                       expires: row.int(6), createdBy: row.text(7), revokedAtNanoseconds: row.optionalInt(8))
        }
    }
}
