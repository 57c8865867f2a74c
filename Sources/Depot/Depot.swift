// Depot: the `depot` command — the CLI over the store and the `serve` daemon that wires
// the watcher to the ingest under systemd. Everything that decides lives in the library
// targets; this target parses arguments, opens things and prints.
import ArgumentParser
import DepotCore

@main
struct DepotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "depot",
        abstract: "Keeps every dropped file safe, deduplicated and versioned.",
        subcommands: [
            InitCommand.self, ServeCommand.self, IngestCommand.self, ListCommand.self,
            LogCommand.self, GetCommand.self, VerifyCommand.self, ConfigCommand.self,
            OutboxCommand.self, EventsCommand.self,
            JobsCommand.self, WorkerCommand.self, ExtractCommand.self,
            LinkCommand.self, TokenCommand.self,
        ])
}

/// `--root` and `--config`, shared by every command that works on a depot root.
struct RootOptions: ParsableArguments {
    @Option(name: .long, help: "The depot root (default: the config's `root`, else $DEPOT_ROOT, else /srv/depot).")
    var root: String?

    @Option(name: .long, help: "The config file (default: ROOT/depot.toml, else /etc/depot/depot.toml).")
    var config: String?
}

/// `--json` for listings a script would parse.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false
}
