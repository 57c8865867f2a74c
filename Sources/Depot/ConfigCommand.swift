import ArgumentParser
import DepotCore
import Foundation

/// `depot config check`: reads every config file depot would read and says what it makes of them.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Configuration tools.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Check the config and every collection's .depot.toml; print the settings in force.",
            discussion: "Exit status: 0 when everything reads, 78 (EX_CONFIG) when a file has a problem (each is listed).")

        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions

        /// One collection's settings in force, as `--json` prints them.
        struct CollectionView: Encodable {
            var name: String
            var mode: CollectionMode
            var quietPeriodMs: Int64
            var ignore: [String]
            var maxLinkLifetime: String
            /// Mirror mode: "keep" or "trash after DURATION".
            var removed: String
            enum CodingKeys: String, CodingKey {
                case name, mode, ignore, removed
                case quietPeriodMs = "quiet_period_ms", maxLinkLifetime = "max_link_lifetime"
            }
        }

        struct Report: Encodable {
            @Nullable var config: String?
            var root: String
            var collections: [CollectionView]
            var problems: [String]
        }

        func run() throws {
            let context = try Context.resolve(rootOptions)
            var problems: [String] = []
            var collections: [CollectionView] = []
            let inbox = context.layout.inbox
            if try statIfExists(inbox) == nil { problems.append("\(inbox) does not exist (run depot init)") }
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: inbox)) ?? []).sorted()
            let resolver = context.collections
            for name in names where !name.hasPrefix(".") {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: inbox + "/" + name, isDirectory: &isDirectory),
                      isDirectory.boolValue else { continue }
                do {
                    let s = try resolver.settings(for: name)
                    collections.append(CollectionView(name: name, mode: s.mode, quietPeriodMs: s.quietPeriod.nanosecondsValue / 1_000_000,
                                                      ignore: s.ignore, maxLinkLifetime: formatDuration(s.maxLinkLifetime),
                                                      removed: s.removed.description))
                } catch {
                    problems.append("\(error)")
                }
            }
            if output.json {
                try printJSON(Report(config: context.configPath, root: context.layout.root, collections: collections, problems: problems))
            } else {
                print("config: \(context.configPath ?? "(none found; built-in defaults)")")
                print("root: \(context.layout.root)")
                for c in collections {
                    print("collection \(c.name): mode \(c.mode.rawValue), quiet period \(c.quietPeriodMs) ms, links at most \(c.maxLinkLifetime)"
                          + (c.mode == .mirror ? ", removed files: \(c.removed)" : ""))
                }
                for p in problems { print("problem: \(p)") }
                print(problems.isEmpty ? "ok" : "\(problems.count) problem(s)")
            }
            if !problems.isEmpty { throw ExitCode(CommandFailure.Status.config.rawValue) }
        }
    }
}
