import DepotCore
import DepotStore
import Foundation

/// What a person asks for when minting a link, from the CLI or the API.
public struct MintRequest: Sendable {
    public var target: LinkTarget
    /// nil: `http.link_expiry`.
    public var lifetime: Duration?
    /// Only this client address may use it.
    public var clientIP: String?
    /// "cli", "api".
    public var createdBy: String

    public init(target: LinkTarget, lifetime: Duration? = nil, clientIP: String? = nil, createdBy: String) {
        self.target = target
        self.lifetime = lifetime
        self.clientIP = clientIP
        self.createdBy = createdBy
    }
}

/// A link as listed, and as minted (with its URL): the shape of the API's links and of
/// `depot link --json`.
public struct LinkView: Codable, Sendable, Equatable {
    public struct Target: Codable, Sendable, Equatable {
        public var kind: String
        public var id: Int64
    }

    public var id: String
    public var target: Target
    public var path: String
    @Nullable public var clientIP: String?
    public var createdAt: Timestamp
    public var expiresAt: Timestamp
    public var createdBy: String
    public var revoked: Bool
    /// Only when minted: the whole URL.
    public var url: String?

    public init(_ l: LinkRecord, url: String? = nil) {
        id = l.id
        target = Target(kind: l.target.kindName, id: l.target.id)
        path = l.path
        clientIP = l.clientIP
        createdAt = Timestamp(nanoseconds: l.createdAtNanoseconds)
        expiresAt = Timestamp(seconds: l.expires)
        createdBy = l.createdBy
        revoked = l.revokedAtNanoseconds != nil
        self.url = url
    }

    enum CodingKeys: String, CodingKey {
        case id, target, path, revoked, url
        case clientIP = "client_ip", createdAt = "created_at", expiresAt = "expires_at", createdBy = "created_by"
    }
}

/// Minting links, one implementation for `depot link` and `POST /api/v1/links`: the
/// default and the collection's maximum lifetime, the signature, the record, the URL.
public struct LinkMinter: Sendable {
    public let links: LinkStore
    public let signer: LinkSigner
    public let settings: HTTPSettings
    public let collections: CollectionSettingsResolver

    public init(links: LinkStore, signer: LinkSigner, settings: HTTPSettings, collections: CollectionSettingsResolver) {
        self.links = links
        self.signer = signer
        self.settings = settings
        self.collections = collections
    }

    /// Mints a link; its URL starts with `baseURL` (nil: `http.base_url`, else listen:port).
    /// - Throws: `LinkError` (no such target, a lifetime past the collection's maximum) or the
    ///   `ConfigError` of a collection whose `.depot.toml` is broken (no lifetime is guessed).
    public func mint(_ request: MintRequest, baseURL: String? = nil) throws -> LinkView {
        guard let file = try links.resolve(request.target) else {
            throw LinkError.notFound("no \(request.target.kindName) \(request.target.id)")
        }
        let maximum = try collections.settings(for: file.collection).maxLinkLifetime
        let minted = try links.mintLink(target: request.target, signer: signer, lifetime: request.lifetime ?? settings.linkExpiry,
                                        maxLifetime: maximum, clientIP: request.clientIP.map(normalizeIP),
                                        createdBy: request.createdBy)
        return LinkView(minted.record, url: (baseURL ?? settings.publicBaseURL) + minted.link.pathAndQuery)
    }
}

/// Whether `text` is an IPv4 or IPv6 address.
public func isIPAddress(_ text: String) -> Bool {
    var v4 = in_addr(), v6 = in6_addr()
    return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
}
