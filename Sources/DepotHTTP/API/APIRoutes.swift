import DepotCore
import DepotQueue
import DepotStore
import Foundation
import HTTPTypes
import Hummingbird

/// The admin API's routes (under /api/v1, behind `AuthMiddleware`). JSON in and out, every
/// answer a Codable type (the same ones `depot … --json` prints); lists are paged with
/// `limit` (1–500, default 50) and `offset`, and say `next_offset` (null at the end).
extension Handlers {
    func registerAPI(on api: RouterGroup<DepotRequestContext>) {
        api.get("/documents") { request, _ in try await listDocuments(request) }
        api.get("/documents/:id") { _, context in try await document(try id(context)) }
        api.get("/documents/:id/versions") { _, context in try await versions(ofDocument: try id(context)) }
        api.delete("/documents/:id") { request, context in
            try await trash(document: try id(context), version: nil, bypassGovernance: request.uri.queryParameters["bypass_governance"] == "true")
        }
        api.delete("/documents/:id/versions/:number") { request, context in
            guard let number = context.parameters.get("number").flatMap({ Int($0) }), number > 0 else {
                throw APIError.badRequest("the version number must be a positive integer")
            }
            return try await trash(document: try id(context), version: number,
                                   bypassGovernance: request.uri.queryParameters["bypass_governance"] == "true")
        }
        api.post("/documents/:id/generate") { request, context in try await generate(request, document: try id(context)) }
        api.post("/documents/:id/renditions") { request, context in try await rendition(request, document: try id(context)) }
        api.post("/documents/:id/tags") { request, context in try await addTags(request, document: try id(context)) }
        api.delete("/documents/:id/tags/:tag") { _, context in
            try await removeTag(context.parameters.require("tag"), document: try id(context))
        }
        api.get("/versions/:id/artifacts") { _, context in try await artifacts(ofVersion: try id(context)) }
        api.get("/jobs") { request, _ in try await listJobs(request) }
        api.post("/jobs") { request, _ in try await queueJob(request) }
        api.get("/jobs/:id") { _, context in try await job(try id(context)) }
        api.post("/jobs/:id/retry") { _, context in try await changeJob(try id(context), retry: true) }
        api.post("/jobs/:id/cancel") { _, context in try await changeJob(try id(context), retry: false) }
        api.get("/links") { request, _ in try await listLinks(request) }
        api.post("/links") { request, _ in try await mint(request) }
        api.delete("/links/:id") { _, context in try await revoke(context.parameters.require("id")) }
        api.get("/stats") { _, _ in try await stats() }
    }

    func id(_ context: DepotRequestContext) throws -> Int64 {
        guard let text = context.parameters.get("id"), let id = Int64(text), id > 0 else {
            throw APIError.badRequest("the id must be a positive integer")
        }
        return id
    }

    func paging(_ request: Request) throws -> (limit: Int, offset: Int) {
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

    /// A page from `limit + 1` items (the extra one says there is more).
    func page<T: Encodable & Sendable>(_ items: [T], limit: Int, offset: Int) -> Response {
        jsonResponse(Page(items: Array(items.prefix(limit)), nextOffset: items.count > limit ? offset + limit : nil))
    }

    /// The body as a JSON object (at most 64 KiB).
    /// - Parameter allowEmpty: an empty body reads as an empty object.
    func readJSON(_ request: Request, allowEmpty: Bool = false) async throws -> [String: Any] {
        var request = request
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: 64 << 10) } catch {
            throw APIError(status: .contentTooLarge, code: "payload_too_large", message: "the body is larger than 64 KiB")
        }
        if allowEmpty && buffer.readableBytes == 0 { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
            throw APIError.badRequest("the body must be a JSON object")
        }
        return object
    }

    /// An integer member of a JSON body (JSONSerialization gives NSNumber; booleans are not integers).
    static func integer(_ value: Any?) -> Int64? {
        guard let value, !isBoolean(value), let number = value as? NSNumber else { return nil }
        let d = number.doubleValue
        guard d.rounded() == d, abs(d) < 9.2e18 else { return nil }
        return number.int64Value
    }

    // MARK: stats

    func stats() async throws -> Response {
        let queue = env.queue, store = env.store
        return jsonResponse(try await blocking { try queue.stats(store: store) })
    }
}

/// Whether a JSONSerialization value is a boolean (an NSNumber whose type is char, or a Bool):
/// `true` must not pass for the integer 1.
func isBoolean(_ value: Any) -> Bool {
    if value is Bool, !(value is Int) { return true }
    if let number = value as? NSNumber { return String(cString: number.objCType) == "c" }
    return false
}
