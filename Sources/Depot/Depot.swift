// Depot: the `depot` command — the CLI over the store and the `serve` daemon that wires
// the watcher to the ingest under systemd. Everything that decides lives in the library
// targets; this target parses arguments, opens things and prints.
import ArgumentParser
import DepotCore

/// depot's version, as `depot --version` prints it.
let depotVersion = "0.4.0"

@main
struct DepotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "depot",
        abstract: "Keeps every dropped file safe, deduplicated and versioned.",
        discussion: "Exit status: 0 done; 1 not there (or damage found by verify); 64 a wrong command line; "
            + "65 wrong data; 66 an input does not exist; 69 unavailable (another serve, a port taken); 74 I/O error; "
            + "70 internal error; 75 try again (busy); 78 configuration error. "
            + "Installed (make install, the Debian package), depot serves /srv/depot as user depot, which owns everything "
            + "in it: run commands on it as that user (sudo -u depot depot ls), never as root, whose new files the daemon "
            + "could not write.",
        version: depotVersion,
        subcommands: [
            InitCommand.self, ServeCommand.self, IngestCommand.self, ListCommand.self,
            LogCommand.self, GetCommand.self, VerifyCommand.self, ConfigCommand.self,
            OutboxCommand.self, EventsCommand.self,
            JobsCommand.self, WorkerCommand.self, ExtractCommand.self, GenerateCommand.self, RenderCommand.self,
            LinkCommand.self, TokenCommand.self,
            RemoveCommand.self, TrashCommand.self, GCCommand.self, StatsCommand.self,
            RetentionCommand.self, PinCommand.self, UnpinCommand.self, HoldCommand.self, BenchFillCommand.self, BenchQueueCommand.self,
            StatusCommand.self, NodesCommand.self, MigrateCommand.self, ReportCommand.self, StatsSeedCommand.self,
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
