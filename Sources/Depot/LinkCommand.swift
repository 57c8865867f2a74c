import ArgumentParser
import DepotCore
import DepotHTTP
import DepotStore
import Foundation

/// `depot link PATH [--version N | --artifact KIND] [--expires 2h] [--ip ADDR] [--json]`,
/// `depot link upload COLLECTION[/FOLDER] [--expires 7d] [--max-size 4G] [--max-files N]
/// [--types video,pdf] [--ip ADDR] [--json]` and `depot link revoke ID`: signed links.
struct LinkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link",
        abstract: "Print a signed, expiring download link to a stored file or artifact.",
        subcommands: [MintLink.self, MintUploadLink.self, RevokeLink.self],
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
        let lifetime = try linkLifetime(expires)
        try checkLinkAddress(ip)
        let (collection, documentPath) = try splitDocumentPath(path)
        let catalog = try context.openCatalog()
        guard let v = try catalog.version(collection: collection, path: documentPath, number: version) else {
            throw NotFound(version.map { "\(path) has no version \($0)" } ?? "no document \(path)")
        }
        var target = LinkTarget.version(v.id)
        if let artifact {
            guard let a = try catalog.artifacts(versionID: v.id).first(where: { $0.kind == artifact }) else {
                throw NotFound("version \(v.number) of \(path) has no artifact \(artifact)")
            }
            target = .artifact(a.id)
        }
        let minter = LinkMinter(links: LinkStore(catalog: catalog), signer: try context.linkSigner(), settings: settings,
                                collections: context.collections)
        let minted: LinkView
        do {
            minted = try minter.mint(MintRequest(target: target, lifetime: lifetime, clientIP: ip, createdBy: "cli"))
        } catch let error as LinkError {
            throw CommandFailure(error.value == .notFound ? .notFound : .usage, error.message)
        }
        if output.json {
            try printJSON(minted)
        } else {
            print(minted.url ?? "")
        }
    }
}

struct MintUploadLink: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload",
        abstract: "Print a signed, expiring link that lets whoever has it upload files into a collection.",
        discussion: """
            Opened in a browser, the link shows an upload page (drop files, resume after a lost \
            connection); tus clients (tus-js-client, Uppy, tus-py) upload to it too. Each file \
            becomes a version as if it had been dropped into the inbox (origin "upload").
            """)

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "Where the files go: COLLECTION or COLLECTION/FOLDER (e.g. lectures/hand-ins).")
    var place: String

    @Option(name: .long, help: "How long the link works, e.g. 2h, 7d (default: http.upload_link_expiry).")
    var expires: String?

    @Option(name: .long, help: "The largest file it takes, e.g. 500M, 4G (default: http.max_upload_size).")
    var maxSize: String?

    @Option(name: .long, help: "How many files it takes.")
    var maxFiles: Int?

    @Option(name: .long, help: "The kinds of file it takes, comma-separated: video, audio, image, document, text, pdf, docx, pptx, … or MIME types (image/png, video/*).")
    var types: String?

    @Option(name: .long, help: "Only this client address may use the link.")
    var ip: String?

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        var request = UploadLinkRequest(collection: "", createdBy: "cli")
        let parts = place.split(separator: "/", maxSplits: 1).map(String.init)
        guard let collection = parts.first else { throw ValidationError("give COLLECTION or COLLECTION/FOLDER") }
        request.collection = collection
        request.folder = parts.count > 1 ? parts[1] : ""
        request.lifetime = try linkLifetime(expires)
        if let maxSize {
            guard let n = parseByteSize(maxSize), n > 0 else { throw ValidationError("--max-size takes a size such as 500M or 4G") }
            request.maxSize = n
        }
        request.maxFiles = maxFiles
        if let types { request.types = types.split(separator: ",").map(String.init) }
        try checkLinkAddress(ip)
        request.clientIP = ip
        let uploads = try context.uploads(queue: try context.openQueue(), store: try context.openStore())
        let made: UploadLinkView
        do {
            made = try uploads.mintLink(request)
        } catch let error as LinkError {
            throw CommandFailure(error.value == .notFound ? .notFound : .usage, error.message)
        }
        if output.json {
            try printJSON(made)
        } else {
            print(made.url ?? "")
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
        let queue = try context.openQueue()
        guard try LinkStore(catalog: queue.catalog).revokeLink(id: id)
                || context.uploads(queue: queue, store: try context.openStore()).revokeLink(id: id) else {
            throw NotFound("no unrevoked link \(id)")
        }
        print("revoked \(id)")
    }
}

/// `--expires`: a positive duration such as 2h or 7d (nil: the default lifetime).
func linkLifetime(_ expires: String?) throws -> Duration? {
    guard let expires else { return nil }
    guard let d = parseDuration(expires), d > .zero else {
        throw ValidationError("--expires takes a duration such as 2h, at most 100 years")
    }
    return d
}

/// `--ip`: an IPv4 or IPv6 address, when given.
func checkLinkAddress(_ ip: String?) throws {
    if let ip, !isIPAddress(ip) { throw ValidationError("--ip takes an IPv4 or IPv6 address") }
}
