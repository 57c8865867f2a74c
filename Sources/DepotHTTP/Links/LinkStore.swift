import DepotCore
import DepotStore
import Foundation
import Synchronization

/// Why a link could not be minted.
public struct LinkError: Error, CustomStringConvertible, Sendable {
    public enum Value: Sendable { case invalid, notFound }
    public let value: Value
    public let message: String
    public var description: String { message }

    static func invalid(_ message: String) -> LinkError { .init(value: .invalid, message: message) }
    static func notFound(_ message: String) -> LinkError { .init(value: .notFound, message: message) }
}

/// API tokens and minted links: made, checked and revoked here, recorded by the store
/// (`AccessRecords`). What a link serves it asks the store's catalog. Every call blocks: callers on the concurrency pool hop to a thread first.
public struct LinkStore: Sendable {
    public let catalog: Catalog
    /// Links resolved in the last second (shared by every copy of this value).
    let recentLinks = RecentLinks()

    public init(catalog: Catalog) { self.catalog = catalog }

    var database: any CatalogDatabase { catalog.database }

    // MARK: tokens

    /// Creates a token; returns its id and the secret, shown once ("dpt_<id>_<secret>").
    public func createToken(scope: TokenScope, name: String) throws -> (id: String, token: String) {
        let id = hexString(try randomBytes(6))
        let token = "dpt_\(id)_" + base64URL(try randomBytes(24))
        try database.write { tx in try AccessRecords.addToken(id: id, sha256: Self.hash(token), scope: scope, name: name, in: tx) }
        return (id, token)
    }

    /// The scope of a live token, or nil. Tokens are 190 random bits, so a plain SHA-256
    /// (no slow hash) is enough to keep a stolen catalog from yielding them.
    public func scope(ofToken token: String) throws -> TokenScope? {
        guard token.hasPrefix("dpt_"), token.utf8.count < 128 else { return nil }
        return try database.read { tx in try AccessRecords.scope(ofTokenSHA256: Self.hash(token), in: tx) }
    }

    public func tokens() throws -> [TokenInfo] {
        try database.read { tx in try AccessRecords.tokens(in: tx) }
    }

    /// Revokes a token; false when there is no live token with that id.
    public func revokeToken(id: String) throws -> Bool {
        try database.write { tx in try AccessRecords.revokeToken(id: id, in: tx) }
    }

    static func hash(_ token: String) -> String { SHA256Hasher.digest(Array(token.utf8)).hex }

    // MARK: links

    /// What a link to `target` serves, or nil when there is no such version/artifact.
    public func resolve(_ target: LinkTarget) throws -> StoredFile? {
        try database.read { tx in try resolve(target, in: tx) }
    }

    func resolve(_ target: LinkTarget, in tx: any CatalogTransaction) throws -> StoredFile? {
        switch target {
        case .version(let id): return try catalog.storedFile(version: id, in: tx)
        case .artifact(let id): return try catalog.storedFile(artifact: id, in: tx)
        }
    }

    /// Resolves a verified link's target and checks that its link id was minted here and not
    /// revoked, in one read of the catalog (the download hot path); remembered for a second.
    func resolveForDownload(_ link: SignedLink, target: LinkTarget) throws -> ResolvedDownload? {
        let resolved = try database.read { tx -> StoredFile? in
            guard try AccessRecords.isLive(linkID: link.linkID, target: target, in: tx) else { return nil }
            return try resolve(target, in: tx)
        }
        guard let resolved else { return nil }
        let download = ResolvedDownload(resolved)
        recentLinks.remember(link, target: target, resolved: download)
        return download
    }

    /// Mints and records a link. `lifetime` is capped by `maxLifetime` (an error past it).
    public func mintLink(target: LinkTarget, signer: LinkSigner, lifetime: Duration, maxLifetime: Duration,
                         clientIP: String?, createdBy: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws
        -> (link: SignedLink, record: LinkRecord, file: StoredFile) {
        guard lifetime > .zero else { throw LinkError.invalid("a link's lifetime must be positive") }
        guard lifetime <= maxLifetime else {
            throw LinkError.invalid("a link may live at most \(formatDuration(maxLifetime)) for this collection (asked: \(formatDuration(lifetime)))")
        }
        guard let resolved = try resolve(target) else {
            throw LinkError.notFound("no \(target.kindName) with id \(target.id)")
        }
        let id = try LinkSigner.newLinkID()
        let path = LinkSigner.path(for: target, fileName: resolved.fileName)
        let expires = now + lifetime.components.seconds
        let link = signer.sign(path: path, expires: expires, clientIP: clientIP, linkID: id)
        let record = LinkRecord(id: id, target: target, path: path, clientIP: clientIP,
                                createdAtNanoseconds: wallClockNanoseconds(), expires: expires, createdBy: createdBy)
        try database.write { tx in try AccessRecords.addLink(record, in: tx) }
        return (link, record, resolved)
    }

    /// Revokes a link; false when there is no such unrevoked link.
    public func revokeLink(id: String) throws -> Bool {
        recentLinks.forget(id)
        return try database.write { tx in try AccessRecords.revokeLink(id: id, in: tx) }
    }

    public func links(limit: Int, offset: Int) throws -> [LinkRecord] {
        try database.read { tx in try AccessRecords.links(limit: limit, offset: offset, in: tx) }
    }
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

    /// Forgets every link: what one resolved to may be in the trash now.
    func forgetAll() {
        entries.withLock { $0.removeAll(keepingCapacity: true) }
    }
}
