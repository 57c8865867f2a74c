import ArgumentParser
import DepotCore
import DepotHTTP
import DepotStore
import Foundation

/// `depot init ROOT`: lays out a new depot root. `depot init --config FILE` lays out the root
/// that FILE names and writes no ROOT/depot.toml: an installed depot runs with
/// /etc/depot/depot.toml, and a second copy in the root would only disagree with it.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a depot root: inbox/, outbox/, store/, state/, a config and example collections.",
        discussion: "With --config, the root is the one that file names (or ROOT), and no ROOT/depot.toml is written: "
            + "the root is run with that file (the package runs `depot init --config /etc/depot/depot.toml` as user depot).")

    @Argument(help: "The folder to create or complete (e.g. /srv/depot or ./demo).")
    var root: String?

    @Option(name: .long, help: "The config file the root will be run with: its `root` and `http.keys_file` are used.")
    var config: String?

    func validate() throws {
        if root == nil && config == nil { throw ValidationError("Give the ROOT to create, or --config FILE.") }
    }

    func run() throws {
        var given: DepotConfig?
        if let config {
            guard try statIfExists(config) != nil else { throw CommandFailure(.noInput, "config file \(config) does not exist") }
            given = try DepotConfig.load(path: config, sections: configSections)
        }
        // validate() saw ROOT or --config.
        let layout = RootLayout(root: absolutePath(root ?? given?.root ?? ""))
        // inbox is group-writable and setgid so a share's users can drop files (tmpfiles does
        // the same under systemd); the store and the state are depot's alone.
        for (path, mode) in [(layout.root, 0o755), (layout.inbox, 0o2775), (layout.outbox, 0o755),
                             (layout.store, 0o750), (layout.blobs, 0o750), (layout.storeTemp, 0o750),
                             (layout.state, 0o750)] as [(String, mode_t)] {
            if try makeDirectories(path, mode: mode).contains(path) {
                chmod(path, mode)  // mkdir's mode is filtered by the umask
            }
        }
        _ = try openBlobStore(given?.store ?? StoreSettings(), layout: layout)
        try (given ?? .defaults).catalog.open(sqlitePath: layout.catalog).migrate(catalogMigrations)

        var notes: [String] = []
        // The keys that sign download links: mode 0600, never overwritten (that would void
        // every link handed out).
        let keysFile = given.flatMap { $0.http.keysFile.isEmpty ? nil : $0.http.keysFile } ?? LinkKeys.defaultPath(layout: layout)
        if try LinkKeys.createFile(at: keysFile) {
            notes.append("created link-signing keys in \(keysFile)")
        }
        if let template = shareFile("inbox-layout") {
            let copied = try copyTree(from: template, to: layout.inbox)
            notes.append("laid out \(copied) example files in \(layout.inbox)")
        } else {
            try makeDirectories(layout.inbox(collection: "documents"))
            notes.append("inbox template not found; created \(layout.inbox(collection: "documents"))")
        }
        if given == nil, try statIfExists(layout.configFile) == nil {
            try writeConfig(to: layout.configFile, root: layout.root)
            notes.append("wrote \(layout.configFile)")
        }
        print("depot root ready at \(layout.root)")
        for note in notes { print("  " + note) }
        let serve = config.map { "depot serve --config \($0)" } ?? "depot serve --root \(layout.root)"
        print("drop files into \(layout.inbox)/<collection>/, then run: \(serve)")
    }

    /// The documented default config with this root filled in.
    private func writeConfig(to path: String, root: String) throws {
        var text = "root = \"/srv/depot\"\n"
        if let template = shareFile("config/depot.toml") {
            text = try readTextFile(template)
        }
        let escaped = root.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasPrefix("root = ") ? "root = \"\(escaped)\"" : String(line)
        }
        let result = lines.joined(separator: "\n")
        _ = try DepotConfig.parse(toml: result, source: path, sections: configSections)
        try Data(result.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Copies files that are not there yet; never overwrites what a user changed.
    private func copyTree(from source: String, to destination: String) throws -> Int {
        let fm = FileManager.default
        var copied = 0
        guard let walker = fm.enumerator(atPath: source) else { return 0 }
        while let relative = walker.nextObject() as? String {
            let from = source + "/" + relative, to = destination + "/" + relative
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: from, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                // Collections are group-writable like the inbox, whatever the umask of whoever runs init.
                for created in try makeDirectories(to, mode: 0o2775) { chmod(created, 0o2775) }
            } else if !fm.fileExists(atPath: to) {
                try fm.copyItem(atPath: from, toPath: to)
                copied += 1
            }
        }
        return copied
    }
}

/// Finds a file shipped with depot: $DEPOT_SHARE, then <exe>/../share/depot (an install),
/// then the source checkout this binary was built from (a development build).
func shareFile(_ relative: String) -> String? {
    var bases: [String] = []
    if let share = ProcessInfo.processInfo.environment["DEPOT_SHARE"] { bases.append(share) }
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    bases.append(exe.appendingPathComponent("../share/depot").standardized.path)
    let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    bases.append(checkout)
    for base in bases where FileManager.default.fileExists(atPath: base + "/" + relative) {
        return base + "/" + relative
    }
    return nil
}
