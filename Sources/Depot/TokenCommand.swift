import ArgumentParser
import DepotCore
import DepotHTTP
import DepotStore
import Foundation

/// `depot token create --scope read|admin`, `depot token list`, `depot token revoke ID`:
/// bearer tokens for the admin API, stored hashed.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Manage bearer tokens for the admin API (/api/v1).",
        subcommands: [CreateToken.self, ListTokens.self, RevokeToken.self])
}

extension TokenScope: ExpressibleByArgument {}

struct CreateToken: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a token; it is shown once.")

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "read (GET only) or admin (everything).")
    var scope: TokenScope

    @Option(name: .long, help: "A note saying who or what uses it.")
    var name: String = ""

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let (id, token) = try LinkStore(catalog: try context.openCatalog()).createToken(scope: scope, name: name)
        if output.json {
            try printJSON(CreatedToken(id: id, scope: scope, token: token))
        } else {
            print(token)
            printError("token \(id) (\(scope.rawValue)) created; it is not shown again. Use it as: Authorization: Bearer <token>")
        }
    }
}

struct ListTokens: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List tokens (never their secrets).")

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let tokens = try LinkStore(catalog: try context.openCatalog()).tokens()
        if output.json {
            try printJSON(tokens)
        } else {
            printTable(["ID", "SCOPE", "CREATED", "REVOKED", "NAME"], tokens.map {
                [$0.id, $0.scope.rawValue, $0.createdAt.description, $0.revokedAt?.description ?? "-", $0.name]
            })
        }
    }
}

struct RevokeToken: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token by its id.")

    @OptionGroup var rootOptions: RootOptions

    @Argument(help: "The token's id (from `depot token list`).")
    var id: String

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        guard try LinkStore(catalog: try context.openCatalog()).revokeToken(id: id) else {
            throw NotFound("no live token \(id)")
        }
        print("revoked token \(id)")
    }
}

/// What `depot token create --json` prints: the secret, once.
struct CreatedToken: Encodable {
    var id: String
    var scope: TokenScope
    var token: String
}
