import DepotCore
import DepotStore
import Foundation
import Hummingbird

extension Handlers {
    func listLinks(_ request: Request) async throws -> Response {
        let (limit, offset) = try paging(request)
        let links = self.links
        let records = try await blocking { try links.links(limit: limit + 1, offset: offset) }
        return page(records.map { LinkView($0) }, limit: limit, offset: offset)
    }

    func mint(_ request: Request) async throws -> Response {
        let body = try await readJSON(request)
        let target: LinkTarget
        switch (Self.integer(body["version_id"]), Self.integer(body["artifact_id"]), body["version_id"], body["artifact_id"]) {
        case (let v?, nil, _, nil) where v > 0: target = .version(v)
        case (nil, let a?, nil, _) where a > 0: target = .artifact(a)
        default: throw APIError.badRequest("give exactly one of version_id or artifact_id (a positive integer)")
        }
        let lifetime = try body["expires_in"].map(Self.lifetime)
        var clientIP: String?
        if let ip = body["ip"] {
            guard let text = ip as? String, isIPAddress(text) else { throw APIError.badRequest("ip must be an IPv4 or IPv6 address") }
            clientIP = text
        }
        let minter = self.minter
        let base = baseURL(request)
        let chosen = MintRequest(target: target, lifetime: lifetime, clientIP: clientIP, createdBy: "api")
        return jsonResponse(try await minting { try minter.mint(chosen, baseURL: base) }, status: .created)
    }

    /// Mints a download or upload link on a blocking thread; what the request got wrong (no
    /// such target, a limit past the server's) and a broken collection file become the API's
    /// errors.
    func minting<T: Sendable>(_ mint: @escaping @Sendable () throws -> T) async throws -> T {
        try await blocking { () -> Result<T, APIError> in
            do {
                return .success(try mint())
            } catch let error as LinkError {
                return .failure(error.value == .notFound ? .notFound(error.message) : .badRequest(error.message))
            } catch let error as ConfigError {
                return .failure(APIError(status: .conflict, code: "collection_settings_broken",
                                         message: "the collection's settings cannot be read: \(error)"))
            }
        }.get()
    }

    /// A link's `expires_in`: seconds, or a duration such as "2h".
    static func lifetime(_ value: Any) throws -> Duration {
        if let seconds = integer(value), seconds > 0, seconds <= maximumDurationSeconds { return .seconds(seconds) }
        if let text = value as? String, let d = parseDuration(text), d > .zero { return d }
        throw APIError.badRequest("expires_in is a number of seconds or a duration such as \"2h\" (at most 100 years)")
    }

    /// The configured base URL, else the Host the client used, else listen:port.
    func baseURL(_ request: Request) -> String {
        let s = env.settings
        if !s.baseURL.isEmpty { return s.baseURL }
        if let authority = request.head.authority, !authority.isEmpty,
           authority.utf8.allSatisfy({ isUnreserved($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]") }) {
            return "http://" + authority
        }
        return s.publicBaseURL
    }

    /// Revokes a download or an upload link.
    func revoke(_ id: String) async throws -> Response {
        let links = self.links
        let uploads = env.uploads
        guard try await blocking({ try links.revokeLink(id: id) || (uploads?.revokeLink(id: id) ?? false) }) else {
            throw APIError.notFound("no unrevoked link \(id)")
        }
        return Response(status: .noContent)
    }
}
