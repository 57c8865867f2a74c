import ArgumentParser
import DepotCore
import DepotStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `depot migrate --to postgres://…`: moves the root's SQLite catalog to PostgreSQL.
///
/// The config is not edited: the command prints the `[catalog]` lines to put in it. The config
/// is often /etc/depot/depot.toml, owned by root, with comments a rewrite would lose, and the
/// URL may carry a password the admin would rather keep in a file of its own; and the switch
/// is the admin's to make once the copy has been checked (docs/SCALING.md).
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Move the root's catalog from its SQLite file to PostgreSQL, checked row by row.",
        discussion: """
            Copies every table of ROOT/state/catalog.sqlite3 into the PostgreSQL database of --to, whose schema \
            it makes first (the same migrations as a fresh PostgreSQL catalog), then compares every row on both \
            sides and sets the target's id counters past the copied ids. The blobs stay where they are. \
            depot serve must not run on the root meanwhile (the command takes its lock). The target must be \
            empty, or hold a copy of this same catalog begun by an earlier run: an interrupted migration is \
            carried on by running the same command again, and one that ended is checked again. At the end it \
            prints the `[catalog] url` to put in the config; until then depot keeps using the SQLite file, \
            which is left as it was. Exit status: 0 moved and checked; 65 the two sides differ \
            (the message names the table and row); 66 no catalog; 69 depot serve runs, or the target holds \
            something else; 74 the server cannot be reached; 78 the catalog is on PostgreSQL already.
            """)

    @OptionGroup var rootOptions: RootOptions

    @Option(name: .long, help: "The PostgreSQL database to move the catalog to (postgres://user@host:5432/db).")
    var to: String

    @Option(name: .long, help: "Rows copied per transaction on the target.")
    var batch: Int = 500

    func validate() throws {
        guard to.hasPrefix("postgres://") || to.hasPrefix("postgresql://") else {
            throw ValidationError("--to must be a postgres:// or postgresql:// URL")
        }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    }

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let configured = context.config.catalog.url
        guard configured.isEmpty else {
            throw CommandFailure(.config, "the config\(context.configPath.map { " (\($0))" } ?? "") puts the catalog on PostgreSQL "
                                 + "already ([catalog] url); depot migrate copies the root's SQLite catalog (\(context.layout.catalog)) "
                                 + "and runs with the url removed")
        }
        guard try statIfExists(context.layout.catalog) != nil else {
            throw CommandFailure(.noInput, "\(context.layout.catalog) does not exist: this root has no SQLite catalog to move")
        }
        // The daemon's own lock: no depot serve writes while the copy runs, and none starts.
        let lock: RootLock
        do {
            lock = try RootLock(layout: context.layout)
        } catch let failure as CommandFailure {
            throw CommandFailure(failure.status, "cannot migrate now: \(failure.message)")
        }
        defer { withExtendedLifetime(lock) {} }

        let source = try SQLiteDatabase(path: context.layout.catalog)
        let target = try PostgresDatabase(url: to)
        let copy = CatalogCopy(source: source, target: target, migrations: catalogMigrations)
        copy.batchRows = batch
        let log = { (line: String) in FileHandle.standardError.write(Data("depot: \(line)\n".utf8)) }
        switch try copy.begin() {
        case .fresh: log("copying \(source.location) to \(target.location)")
        case .resumed(let started): log("carrying on the copy to \(target.location) begun \(Timestamp(nanoseconds: started))")
        case .finished(_, let finished):
            log("\(target.location) holds a copy of this catalog made \(Timestamp(nanoseconds: finished)); checking it again")
        }
        // For the tests of an interrupted migration: the process kills itself inside the
        // target transaction of that batch, before it commits.
        let killInBatch = ProcessInfo.processInfo.environment["DEPOT_TEST_MIGRATE_KILL_IN_BATCH"].flatMap(Int.init)
        _ = try copy.copy(inBatch: { n in
            if n == killInBatch { kill(getpid(), SIGKILL) }
        }, progress: { table in
            log("copied \(table.name): \(table.rows) row\(table.rows == 1 ? "" : "s")")
        })
        log("checking every row on both sides")
        let checked = try copy.verify()
        try copy.advanceCounters()
        try copy.finish()

        let rows = checked.reduce(Int64(0)) { $0 + $1.rows }
        let config = context.configPath ?? context.layout.configFile
        print("""
            Moved the catalog of \(context.layout.root) to \(target.location): \(checked.count) tables, \(rows) rows, \
            each compared on both sides.
            To use it, put this in \(config) and start depot serve again:

            [catalog]
            url = "\(tomlEscaped(to))"

            Until then depot keeps using \(context.layout.catalog), which is left as it was (keep it until the \
            PostgreSQL catalog has served a while; a second run of depot migrate checks the copy again, as long as \
            nothing has written to it). The blobs stay where they are ([store]).
            """)
    }
}

/// A string's text inside a TOML basic string.
private func tomlEscaped(_ text: String) -> String {
    text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
}
