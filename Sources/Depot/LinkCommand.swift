import ArgumentParser
import DepotCore
import DepotHTTP
import DepotStore
import Foundation

/// `depot link PATH [--version N | --artifact KIND] [--expires 2h] [--ip ADDR] [--json]` and
/// `depot link revoke ID`: signed download links.
struct LinkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link",
        abstract: "Print a signed, expiring download link to a stored file or artifact.",
        subcommands: [MintLink.self, RevokeLink.self],
        defaultSubcommand: MintLink.self)
}

struct MintLink: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Print a signed download link (the default).")

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "The document: COLLECTION/PATH (e.g. lectures/physics/week1/a.pdf).")
    var path: String

    @Option(name: .long, help: "The version number (default: the current one).")
    var version: Int?

    @Option(name: .long, help: "An artifact of the version instead of the file itself (e.g. text.txt).")
    var artifact: String?

    @Option(name: .long, help: "How long the link works, e.g. 30m, 2h, 7d (default: http.link_expiry).")
    var expires: String?

    @Option(name: .long, help: "Only this client address may use the link.")
    var ip: String?

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let settings = context.config.http
        var lifetime = settings.linkExpiry
        if let expires {
            guard let d = parseDuration(expires), d > .zero else { throw ValidationError("--expires takes a duration such as 2h") }
            lifetime = d
        }
        if let ip, !isIPAddress(ip) { throw ValidationError("--ip takes an IPv4 or IPv6 address") }
        let (collection, documentPath) = try splitDocumentPath(path)
        let catalog = try context.openCatalog()
        guard let v = try catalog.version(collection: collection, path: documentPath, number: version) else {
            throw ValidationError(version.map { "\(path) has no version \($0)" } ?? "no document \(path)")
        }
        var target = LinkTarget.version(v.id)
        if let artifact {
            guard let a = try catalog.artifacts(versionID: v.id).first(where: { $0.kind == artifact }) else {
                throw ValidationError("version \(v.number) of \(path) has no artifact \(artifact)")
            }
            target = .artifact(a.id)
        }
        let keys = try LinkKeys.load(path: LinkKeys.location(settings: settings, layout: context.layout))
        let max = maxLinkLifetime(config: context.config, layout: context.layout, collection: collection)
        let state = HTTPState(catalog: catalog)
        let minted: (link: SignedLink, record: LinkRecord)
        do {
            minted = try state.mintLink(target: target, signer: LinkSigner(keys: keys), lifetime: lifetime, maxLifetime: max,
                                        clientIP: ip, createdBy: "cli")
        } catch let error as LinkError {
            throw ValidationError(error.message)
        }
        let base = settings.baseURL.isEmpty ? defaultBaseURL(settings) : settings.baseURL
        let url = base + minted.link.pathAndQuery
        if output.json {
            try printJSON(["url": url, "id": minted.record.id, "expires_at": timestamp(minted.link.expires * 1_000_000_000),
                           "version": v.number, "artifact": artifact as Any? ?? NSNull()])
        } else {
            print(url)
        }
    }
}

struct RevokeLink: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a link by its id (lnk_…).")

    @OptionGroup var rootOptions: RootOptions

    @Argument(help: "The link id: the lid= of its URL, or the id `depot link --json` printed.")
    var id: String

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        guard try HTTPState(catalog: try context.openCatalog()).revokeLink(id: id) else {
            throw ValidationError("no unrevoked link \(id)")
        }
        print("revoked \(id)")
    }
}
