import DepotCore
import DepotQueue
import DepotStore
import Foundation
import Hummingbird

extension Handlers {
    func listDocuments(_ request: Request) async throws -> Response {
        let (limit, offset) = try paging(request)
        let q = request.uri.queryParameters
        var query = DocumentQuery(collection: q["collection"].map(String.init), tag: q["tag"].map(String.init),
                                  limit: limit + 1, offset: offset)
        if let text = q["type"] {
            let type = String(text).lowercased()
            guard !type.isEmpty, type.utf8.allSatisfy({ isUnreserved($0) && $0 != UInt8(ascii: ".") }) else {
                throw APIError.badRequest("type is a file extension such as pdf or mp4")
            }
            query.fileType = type
        }
        if let text = q["status"] {
            guard let status = ProcessingStatus(rawValue: String(text)) else {
                throw APIError.badRequest("status must be one of \(ProcessingStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.currentVersionIn = env.queue.versions(withStatus: status)
        }
        let queue = env.queue, chosen = query
        return page(try await blocking { try queue.documentRecords(chosen) }, limit: limit, offset: offset)
    }

    func document(_ id: Int64) async throws -> Response {
        let queue = env.queue
        guard let doc = try await blocking({ try queue.documentRecord(id: id) }) else { throw APIError.notFound("no document \(id)") }
        return jsonResponse(doc)
    }

    func versions(ofDocument id: Int64) async throws -> Response {
        let catalog = env.catalog
        guard let versions = try await blocking({ try catalog.versions(ofDocument: id) }) else {
            throw APIError.notFound("no document \(id)")
        }
        return jsonResponse(Page(items: versions.map(VersionRecord.init), nextOffset: nil))
    }

    func artifacts(ofVersion id: Int64) async throws -> Response {
        let catalog = env.catalog
        let items = try await blocking { () -> [ArtifactRecord]? in
            try catalog.database.read { tx in
                guard try catalog.version(id: id, in: tx) != nil else { return nil }
                return try catalog.artifacts(versionID: id, in: tx).map(ArtifactRecord.init)
            }
        }
        guard let items else { throw APIError.notFound("no version \(id)") }
        return jsonResponse(Page(items: items, nextOffset: nil))
    }

    // MARK: tags

    private static func validTag(_ tag: String) -> Bool {
        !tag.isEmpty && tag.count <= 200 && !tag.contains("/") && !tag.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    struct TagsView: Encodable, Sendable {
        var documentID: Int64
        var tags: [String]
        enum CodingKeys: String, CodingKey { case documentID = "document_id", tags }
    }

    func addTags(_ request: Request, document id: Int64) async throws -> Response {
        let body = try await readJSON(request)
        guard let tags = body["tags"] as? [String], !tags.isEmpty, tags.count <= 100, tags.allSatisfy(Self.validTag) else {
            throw APIError.badRequest("tags must be a non-empty array of names (no '/', at most 200 characters)")
        }
        let catalog = env.catalog
        guard let result = try await blocking({ try catalog.tag(document: id, adding: tags) }) else {
            throw APIError.notFound("no document \(id)")
        }
        return jsonResponse(TagsView(documentID: id, tags: result))
    }

    func removeTag(_ tag: String, document id: Int64) async throws -> Response {
        let catalog = env.catalog
        guard let result = try await blocking({ try catalog.untag(document: id, removing: tag) }) else {
            throw APIError.notFound("no document \(id)")
        }
        return jsonResponse(TagsView(documentID: id, tags: result))
    }
}
