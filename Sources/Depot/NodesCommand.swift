import ArgumentParser
import DepotAnalytics
import DepotCore
import DepotStore
import Foundation

/// `depot nodes` (the nodes of `depot status`, one a line) and `depot nodes forget ID`.
struct NodesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "List the nodes registered in the catalog (id, role, state, last seen, jobs running), or forget one.",
        subcommands: [ListNodes.self, ForgetNode.self],
        defaultSubcommand: ListNodes.self)
}

struct ListNodes: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the nodes (as `depot status` shows them).")

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let nodes = try context.openCatalog().nodes()
        if output.json {
            try printJSON(nodes)
        } else {
            printTable(["ID", "ROLE", "STATE", "LAST SEEN", "JOBS", "HOST", "PID"], nodes.map {
                [$0.id, $0.role, $0.state.rawValue, describeSeconds($0.lastSeenSeconds) + " ago", "\($0.jobsRunning)", $0.host, "\($0.pid)"]
            })
        }
    }
}

struct ForgetNode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget",
        abstract: "Remove a node that is down or stopped from the list (one that is up is refused).")

    @OptionGroup var rootOptions: RootOptions

    @Argument(help: "The node's id, as `depot nodes` lists it.")
    var id: String

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let database = try context.openDatabase()
        guard try database.write({ tx in try Nodes.forget(id: id, in: tx) }) else {
            throw CommandFailure(.notFound, "no node '\(id)'")
        }
        printError("node \(id) forgotten")
    }
}
