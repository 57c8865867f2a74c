import DepotCore
import DepotStore
import Foundation
import HTTPTypes
import Hummingbird

/// The admin API's routes (under /api/v1, behind `AuthMiddleware`). JSON in and out; lists are
/// paged with `limit` (1–500, default 50) and `offset`, and say `next_offset` (null at the end).
extension Handlers {
    func registerAPI(on api: RouterGroup<DepotRequestContext>) {
        api.get("/documents") { request, _ in try await listDocuments(request) }
        api.get("/documents/:id") { _, context in try await document(try id(context)) }
        api.get("/documents/:id/versions") { _, context in try await versions(ofDocument: try id(context)) }
        api.post("/documents/:id/tags") { request, context in try await addTags(request, document: try id(context)) }
        api.delete("/documents/:id/tags/:tag") { _, context in
            try await removeTag(context.parameters.require("tag"), document: try id(context))
        }
        api.get("/versions/:id/artifacts") { _, context in try await artifacts(ofVersion: try id(context)) }
        api.get("/jobs") { request, _ in try await listJobs(request) }
        api.post("/jobs/:id/retry") { _, context in try await changeJob(try id(context), retry: true) }
        api.post("/jobs/:id/cancel") { _, context in try await changeJob(try id(context), retry: false) }
        api.get("/links") { request, _ in try await listLinks(request) }
        api.post("/links") { request, _ in try await mint(request) }
        api.delete("/links/:id") { _, context in try await revoke(context.parameters.require("id")) }
        api.get("/stats") { _, _ in try await stats() }
    }

    private func id(_ context: DepotRequestContext) throws -> Int64 {
        guard let text = context.parameters.get("id"), let id = Int64(text), id > 0 else {
            throw APIError.badRequest("the id must be a positive integer")
        }
        return id
    }

    private func paging(_ request: Request) throws -> (limit: Int, offset: Int) {
        let q = request.uri.queryParameters
        var limit = 50, offset = 0
        if let text = q["limit"] {
            guard let v = Int(text), (1...500).contains(v) else { throw APIError.badRequest("limit must be 1–500") }
            limit = v
        }
        if let text = q["offset"] {
            guard let v = Int(text), v >= 0, v <= 1_000_000_000 else { throw APIError.badRequest("offset must be a non-negative integer") }
            offset = v
        }
        return (limit, offset)
    }

    private func page(_ items: [[String: Any]], limit: Int, offset: Int, hasMore: Bool) -> Response {
        jsonResponse(["items": items, "next_offset": hasMore ? offset + limit as Any : NSNull()])
    }

    /// Runs `body` with the catalog's connection off the concurrency pool.
    private func catalog<T>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        let catalog = env.catalog
        return try await blocking { Handover(value: try catalog.withConnection(body)) }.value
    }

    // MARK: documents

    private func listDocuments(_ request: Request) async throws -> Response {
        let (limit, offset) = try paging(request)
        let q = request.uri.queryParameters
        let collection = q["collection"].map(String.init)
        let tag = q["tag"].map(String.init)
        let type = q["type"].map { String($0).lowercased() }
        let status = q["status"].map(String.init)
        if let type, type.isEmpty || !type.utf8.allSatisfy({ isUnreserved($0) && $0 != UInt8(ascii: ".") }) {
            throw APIError.badRequest("type is a file extension such as pdf or mp4")
        }
        if let status, !Self.jobStates.contains(status) && status != "none" {
            throw APIError.badRequest("status must be one of \((Self.jobStates + ["none"]).joined(separator: ", "))")
        }
        let rows = try await catalog { db -> [[String: Any]] in
            let jobs = try JobsTable.exists(db)
            var sql = Self.documentSelect + """
                 WHERE (?1 IS NULL OR c.name = ?1)
                 AND (?2 IS NULL OR EXISTS(SELECT 1 FROM document_tags dt JOIN tags t ON t.id = dt.tag_id
                                           WHERE dt.document_id = d.id AND t.name = ?2))
                 AND (?3 IS NULL OR lower(d.path) LIKE '%.' || ?3)
                """
            if let status {
                if jobs {
                    sql += status == "none" ? " AND NOT EXISTS(SELECT 1 FROM jobs j WHERE j.version_id = v.id)"
                        : " AND EXISTS(SELECT 1 FROM jobs j WHERE j.version_id = v.id AND j.state = ?4)"
                } else if status != "none" {
                    sql += " AND 0"
                }
            }
            sql += " ORDER BY d.id LIMIT ?5 OFFSET ?6"
            let values: [SQLValue] = [collection.map { .text($0) } ?? .null, tag.map { .text($0) } ?? .null,
                                      type.map { .text($0) } ?? .null, status.map { .text($0) } ?? .null,
                                      .integer(Int64(limit + 1)), .integer(Int64(offset))]
            let docs = try db.query(sql, values)
            let statuses = try Self.processingStatus(db, versionIDs: docs.map { $0.int(4) }, jobsExist: jobs)
            return docs.map { Self.documentJSON($0, status: statuses[$0.int(4)] ?? "none") }
        }
        return page(Array(rows.prefix(limit)), limit: limit, offset: offset, hasMore: rows.count > limit)
    }

    static let jobStates = ["queued", "running", "done", "failed", "dead", "cancelled"]

    static let documentSelect = """
        SELECT d.id, c.name, d.path, d.current_version, v.id, v.blob_digest, v.size, d.created_at_ns, d.updated_at_ns,
               (SELECT count(*) FROM versions WHERE document_id = d.id),
               (SELECT group_concat(name, '/') FROM (SELECT t.name FROM document_tags dt JOIN tags t ON t.id = dt.tag_id
                                                     WHERE dt.document_id = d.id ORDER BY t.name))
        FROM documents d JOIN collections c ON c.id = d.collection_id
        JOIN versions v ON v.document_id = d.id AND v.number = d.current_version
        """

    static func documentJSON(_ row: Row, status: String) -> [String: Any] {
        let tags = row.text(10)
        let path = row.text(2)
        return ["id": row.int(0), "collection": row.text(1), "path": path, "current_version": row.int(3),
                "current_version_id": row.int(4), "sha256": row.text(5), "size": row.int(6),
                "created_at": JournalLogHandler.formatTimestamp(row.int(7)),
                "updated_at": JournalLogHandler.formatTimestamp(row.int(8)), "version_count": row.int(9),
                "tags": tags.isEmpty ? [] : tags.split(separator: "/").map(String.init),
                "type": fileType(path), "processing_status": status]
    }

    /// A version's processing status from its jobs: failed (failed or dead) beats running beats
    /// queued beats done; "cancelled" when all were cancelled; "none" without jobs (or without
    /// the job queue).
    static func processingStatus(_ db: SQLiteConnection, versionIDs: [Int64], jobsExist: Bool) throws -> [Int64: String] {
        guard jobsExist, !versionIDs.isEmpty else { return [:] }
        let list = versionIDs.map(String.init).joined(separator: ",")
        var states: [Int64: Set<String>] = [:]
        for row in try db.query("SELECT version_id, state FROM jobs WHERE version_id IN (\(list)) GROUP BY version_id, state") {
            states[row.int(0), default: []].insert(row.text(1))
        }
        return states.mapValues { s in
            for candidate in ["failed", "dead", "running", "queued", "done"] where s.contains(candidate) {
                return candidate == "dead" ? "failed" : candidate
            }
            return s.contains("cancelled") ? "cancelled" : "none"
        }
    }

    private func document(_ id: Int64) async throws -> Response {
        let doc = try await catalog { db -> [String: Any]? in
            guard let row = try db.query(Self.documentSelect + " WHERE d.id = ?", [.integer(id)]).first else { return nil }
            let status = try Self.processingStatus(db, versionIDs: [row.int(4)], jobsExist: try JobsTable.exists(db))
            return Self.documentJSON(row, status: status[row.int(4)] ?? "none")
        }
        guard let doc else { throw APIError.notFound("no document \(id)") }
        return jsonResponse(doc)
    }

    private func versions(ofDocument id: Int64) async throws -> Response {
        let items = try await catalog { db -> [[String: Any]]? in
            guard !(try db.query("SELECT 1 FROM documents WHERE id = ?", [.integer(id)])).isEmpty else { return nil }
            return try db.query("""
                SELECT v.id, v.document_id, v.number, v.blob_digest, v.size, v.source_mtime_ns, v.ingested_at_ns, v.origin,
                       (SELECT count(*) FROM artifacts a WHERE a.version_id = v.id)
                FROM versions v WHERE v.document_id = ? ORDER BY v.number
                """, [.integer(id)]).map { row in
                ["id": row.int(0), "document_id": row.int(1), "number": row.int(2), "sha256": row.text(3), "size": row.int(4),
                 "source_mtime": JournalLogHandler.formatTimestamp(row.int(5)),
                 "ingested_at": JournalLogHandler.formatTimestamp(row.int(6)), "origin": row.text(7), "artifact_count": row.int(8)]
            }
        }
        guard let items else { throw APIError.notFound("no document \(id)") }
        return jsonResponse(["items": items, "next_offset": NSNull()])
    }

    private func artifacts(ofVersion id: Int64) async throws -> Response {
        let items = try await catalog { db -> [[String: Any]]? in
            guard !(try db.query("SELECT 1 FROM versions WHERE id = ?", [.integer(id)])).isEmpty else { return nil }
            return try db.query("""
                SELECT id, version_id, kind, mime_type, blob_digest, size, producer, producer_version, created_at_ns
                FROM artifacts WHERE version_id = ? ORDER BY kind
                """, [.integer(id)]).map { row in
                ["id": row.int(0), "version_id": row.int(1), "kind": row.text(2), "mime_type": row.text(3), "sha256": row.text(4),
                 "size": row.int(5), "producer": row.text(6), "producer_version": row.text(7),
                 "created_at": JournalLogHandler.formatTimestamp(row.int(8))]
            }
        }
        guard let items else { throw APIError.notFound("no version \(id)") }
        return jsonResponse(["items": items, "next_offset": NSNull()])
    }

    // MARK: tags

    private func readJSON(_ request: Request) async throws -> [String: Any] {
        var request = request
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: 64 << 10) } catch {
            throw APIError(status: .contentTooLarge, code: "payload_too_large", message: "the body is larger than 64 KiB")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
            throw APIError.badRequest("the body must be a JSON object")
        }
        return object
    }

    private static func validTag(_ tag: String) -> Bool {
        !tag.isEmpty && tag.count <= 200 && !tag.contains("/") && !tag.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    private func addTags(_ request: Request, document id: Int64) async throws -> Response {
        let body = try await readJSON(request)
        guard let tags = body["tags"] as? [String], !tags.isEmpty, tags.count <= 100, tags.allSatisfy(Self.validTag) else {
            throw APIError.badRequest("tags must be a non-empty array of names (no '/', at most 200 characters)")
        }
        let result = try await catalog { db -> [String]? in
            try db.transaction {
                guard !(try db.query("SELECT 1 FROM documents WHERE id = ?", [.integer(id)])).isEmpty else { return nil }
                for tag in tags {
                    try db.query("INSERT OR IGNORE INTO tags(name) VALUES(?)", [.text(tag)])
                    try db.query("INSERT OR IGNORE INTO document_tags(document_id, tag_id) SELECT ?, id FROM tags WHERE name = ?",
                                 [.integer(id), .text(tag)])
                }
                try EventLog.append("document.tagged", data: ["document_id": id, "added": tags], in: db)
                return try Self.tags(db, document: id)
            }
        }
        guard let result else { throw APIError.notFound("no document \(id)") }
        return jsonResponse(["document_id": id, "tags": result])
    }

    private func removeTag(_ tag: String, document id: Int64) async throws -> Response {
        let result = try await catalog { db -> [String]? in
            try db.transaction {
                guard !(try db.query("SELECT 1 FROM documents WHERE id = ?", [.integer(id)])).isEmpty else { return nil }
                try db.query("DELETE FROM document_tags WHERE document_id = ? AND tag_id = (SELECT id FROM tags WHERE name = ?)",
                             [.integer(id), .text(tag)])
                if db.changes > 0 {
                    try EventLog.append("document.untagged", data: ["document_id": id, "removed": [tag]], in: db)
                }
                return try Self.tags(db, document: id)
            }
        }
        guard let result else { throw APIError.notFound("no document \(id)") }
        return jsonResponse(["document_id": id, "tags": result])
    }

    private static func tags(_ db: SQLiteConnection, document id: Int64) throws -> [String] {
        try db.query("SELECT t.name FROM document_tags dt JOIN tags t ON t.id = dt.tag_id WHERE dt.document_id = ? ORDER BY t.name",
                     [.integer(id)]).map { $0.text(0) }
    }

    // MARK: jobs

    private func listJobs(_ request: Request) async throws -> Response {
        let (limit, offset) = try paging(request)
        let state = request.uri.queryParameters["state"].map(String.init)
        if let state, !Self.jobStates.contains(state) {
            throw APIError.badRequest("state must be one of \(Self.jobStates.joined(separator: ", "))")
        }
        let rows = try await catalog { db -> [[String: Any]] in
            guard try JobsTable.exists(db) else { return [] }
            return try db.query("""
                SELECT id, version_id, kind, state, attempts, last_error, progress FROM jobs
                WHERE ?1 IS NULL OR state = ?1 ORDER BY id LIMIT ?2 OFFSET ?3
                """, [state.map { .text($0) } ?? .null, .integer(Int64(limit + 1)), .integer(Int64(offset))]).map(Self.jobJSON)
        }
        return page(Array(rows.prefix(limit)), limit: limit, offset: offset, hasMore: rows.count > limit)
    }

    static func jobJSON(_ row: Row) -> [String: Any] {
        func value(_ v: SQLValue) -> Any {
            switch v {
            case .null: return NSNull()
            case .integer(let i): return i
            case .real(let d): return d
            case .text(let t): return t
            }
        }
        let progress: Any
        switch row.values[6] {
        case .integer(let i): progress = Double(i)
        case .real(let d): progress = d
        default: progress = NSNull()
        }
        let lastError: Any = { if case .text(let t) = row.values[5] { return t } else { return NSNull() } }()
        return ["id": value(row.values[0]), "version_id": row.int(1), "kind": row.text(2), "state": row.text(3),
                "attempts": row.int(4), "last_error": lastError, "progress": progress]
    }

    /// Retry (failed or dead → queued now, attempts kept) or cancel (queued or failed →
    /// cancelled): the same state changes `depot jobs retry/cancel` makes.
    private func changeJob(_ id: Int64, retry: Bool) async throws -> Response {
        enum Outcome: Sendable { case noQueue, missing, wrongState(String), changed([String: String]) }
        let outcome = try await catalog { db -> Outcome in
            guard try JobsTable.exists(db) else { return .noQueue }
            return try db.transaction {
                guard let row = try db.query("SELECT state FROM jobs WHERE id = ?", [.integer(id)]).first else { return .missing }
                let state = row.text(0)
                if retry {
                    guard ["failed", "dead"].contains(state) else { return .wrongState(state) }
                    try db.query("UPDATE jobs SET state = 'queued', run_after_ns = ? WHERE id = ?",
                                 [.integer(wallClockNanoseconds()), .integer(id)])
                } else {
                    guard ["queued", "failed"].contains(state) else { return .wrongState(state) }
                    try db.query("UPDATE jobs SET state = 'cancelled' WHERE id = ?", [.integer(id)])
                }
                return .changed(["id": String(id), "state": retry ? "queued" : "cancelled"])
            }
        }
        switch outcome {
        case .noQueue:
            // No queue, so no such job: a 404, not a server error.
            throw APIError.notFound("no job \(id) (this depot has no job queue)")
        case .missing:
            throw APIError.notFound("no job \(id)")
        case .wrongState(let state):
            throw APIError.conflict(retry ? "only a failed or dead job can be retried (this one is \(state))"
                                          : "only a queued or failed job can be cancelled (this one is \(state))")
        case .changed:
            let job = try await catalog { db in
                try db.query("SELECT id, version_id, kind, state, attempts, last_error, progress FROM jobs WHERE id = ?",
                             [.integer(id)]).first.map(Self.jobJSON) ?? [:]
            }
            return jsonResponse(job)
        }
    }

    // MARK: links

    private func listLinks(_ request: Request) async throws -> Response {
        let (limit, offset) = try paging(request)
        let state = self.state
        let links = try await blocking { try state.links(limit: limit + 1, offset: offset) }
        return page(links.prefix(limit).map(Self.linkJSON), limit: limit, offset: offset, hasMore: links.count > limit)
    }

    static func linkJSON(_ l: LinkRecord) -> [String: Any] {
        ["id": l.id, "target": ["kind": l.target.letter == "v" ? "version" : "artifact", "id": l.target.id],
         "path": l.path, "client_ip": l.clientIP as Any? ?? NSNull(),
         "created_at": JournalLogHandler.formatTimestamp(l.createdAtNanoseconds),
         "expires_at": JournalLogHandler.formatTimestamp(l.expires * 1_000_000_000), "created_by": l.createdBy,
         "revoked": l.revokedAtNanoseconds != nil]
    }

    private func mint(_ request: Request) async throws -> Response {
        let body = try await readJSON(request)
        let target: LinkTarget
        switch (body["version_id"], body["artifact_id"]) {
        case (let v as Int, nil) where v > 0: target = .version(Int64(v))
        case (nil, let a as Int) where a > 0: target = .artifact(Int64(a))
        default: throw APIError.badRequest("give exactly one of version_id or artifact_id (a positive integer)")
        }
        var lifetime = env.config.http.linkExpiry
        if let e = body["expires_in"] {
            if let seconds = e as? Int, seconds > 0 { lifetime = .seconds(seconds) }
            else if let text = e as? String, let d = parseDuration(text), d > .zero { lifetime = d }
            else { throw APIError.badRequest("expires_in is a number of seconds or a duration such as \"2h\"") }
        }
        var clientIP: String?
        if let ip = body["ip"] {
            guard let text = ip as? String, isIPAddress(text) else { throw APIError.badRequest("ip must be an IPv4 or IPv6 address") }
            clientIP = normalizeIP(text)
        }
        let env = self.env, state = self.state
        let base = baseURL(request)
        let (chosenLifetime, boundIP) = (lifetime, clientIP)
        let result = try await blocking { () -> Result<(SignedLink, LinkRecord), APIError> in
            guard let collection = try state.collection(of: target) else {
                return .failure(.notFound("no \(target.letter == "v" ? "version" : "artifact") \(target.id)"))
            }
            let max = maxLinkLifetime(config: env.config, layout: env.layout, collection: collection)
            do {
                let (link, record) = try state.mintLink(target: target, signer: env.signer, lifetime: chosenLifetime, maxLifetime: max,
                                                        clientIP: boundIP, createdBy: "api")
                return .success((link, record))
            } catch let error as LinkError {
                return .failure(.badRequest(error.message))
            }
        }
        let (link, record) = try result.get()
        var json = Self.linkJSON(record)
        json["url"] = base + link.pathAndQuery
        return jsonResponse(json, status: .created)
    }

    /// The configured base URL, else the Host the client used, else listen:port.
    private func baseURL(_ request: Request) -> String {
        let s = env.config.http
        if !s.baseURL.isEmpty { return s.baseURL }
        if let authority = request.head.authority, !authority.isEmpty,
           authority.utf8.allSatisfy({ isUnreserved($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]") }) {
            return "http://" + authority
        }
        return defaultBaseURL(s)
    }

    private func revoke(_ id: String) async throws -> Response {
        let state = self.state
        guard try await blocking({ try state.revokeLink(id: id) }) else { throw APIError.notFound("no unrevoked link \(id)") }
        return Response(status: .noContent)
    }

    // MARK: stats

    private func stats() async throws -> Response {
        let stats = try await catalog { db -> [String: Any] in
            let row = try db.query("""
                SELECT (SELECT count(*) FROM collections), (SELECT count(*) FROM documents), (SELECT count(*) FROM versions),
                       (SELECT count(*) FROM blobs), (SELECT coalesce(sum(size), 0) FROM versions),
                       (SELECT coalesce(sum(size), 0) FROM blobs)
                """)[0]
            var byType: [String: (documents: Int64, versions: Int64, bytes: Int64)] = [:]
            for r in try db.query("""
                SELECT d.path, count(v.id), coalesce(sum(v.size), 0) FROM documents d JOIN versions v ON v.document_id = d.id GROUP BY d.id
                """) {
                let type = fileType(r.text(0))
                var t = byType[type] ?? (0, 0, 0)
                t.documents += 1
                t.versions += r.int(1)
                t.bytes += r.int(2)
                byType[type] = t
            }
            var queue: [String: Int64] = [:]
            for s in Self.jobStates { queue[s] = 0 }
            if try JobsTable.exists(db) {
                for r in try db.query("SELECT state, count(*) FROM jobs GROUP BY state") { queue[r.text(0)] = r.int(1) }
            }
            let logical = row.int(4), stored = row.int(5)
            return ["collections": row.int(0), "documents": row.int(1), "versions": row.int(2), "blobs": row.int(3),
                    "logical_bytes": logical, "stored_bytes": stored,
                    "dedup_ratio": stored > 0 ? Double(logical) / Double(stored) : 1.0,
                    "by_type": byType.keys.sorted().map { k in
                        ["type": k, "documents": byType[k]!.documents, "versions": byType[k]!.versions,
                         "logical_bytes": byType[k]!.bytes] as [String: Any]
                    },
                    "queue": queue]
        }
        return jsonResponse(stats)
    }
}

/// A document's type as the API filters it: its file extension, lowercased ("pdf"); "" without one.
func fileType(_ path: String) -> String {
    let name = baseName(path)
    guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
    return name[name.index(after: dot)...].lowercased()
}

/// "http://LISTEN:PORT" (IPv6 in brackets).
public func defaultBaseURL(_ s: HTTPSettings) -> String {
    let host = s.listen.contains(":") ? "[\(s.listen)]" : s.listen
    return "http://\(host):\(s.port)"
}

/// Whether `text` is an IPv4 or IPv6 address.
public func isIPAddress(_ text: String) -> Bool {
    var v4 = in_addr(), v6 = in6_addr()
    return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
}

/// A value built on a blocking thread and handed to the awaiting task once (JSON dictionaries
/// hold `Any`, which is not Sendable). `@unchecked Sendable`: nothing keeps or shares it after
/// the handover.
struct Handover<T>: @unchecked Sendable {
    let value: T
}
