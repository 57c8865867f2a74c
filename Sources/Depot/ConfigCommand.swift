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
            abstract: "Check the config and every collection's .depot.toml; print the settings in force.")

        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let context = try Context.resolve(rootOptions)
            var problems: [String] = []
            var collections: [[String: Any]] = []
            let inbox = context.layout.inbox
            if try statIfExists(inbox) == nil { problems.append("\(inbox) does not exist (run depot init)") }
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: inbox)) ?? []).sorted()
            for name in names where !name.hasPrefix(".") {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: inbox + "/" + name, isDirectory: &isDirectory),
                      isDirectory.boolValue else { continue }
                var overrides: CollectionOverrides?
                let file = inbox + "/" + name + "/.depot.toml"
                if try statIfExists(file) != nil {
                    do {
                        overrides = try CollectionOverrides.parse(toml: try readTextFile(file), source: file)
                    } catch {
                        problems.append("\(error)")
                    }
                }
                let s = context.config.settings(forCollection: name, overrideFile: overrides)
                collections.append(["name": name, "mode": s.mode.rawValue,
                                    "quiet_period_ms": Int(s.quietPeriod.nanosecondsValue / 1_000_000),
                                    "ignore": s.ignore])
            }
            if output.json {
                try printJSON(["config": context.configPath ?? NSNull(), "root": context.layout.root,
                               "collections": collections, "problems": problems] as [String: Any])
            } else {
                print("config: \(context.configPath ?? "(none found; built-in defaults)")")
                print("root: \(context.layout.root)")
                for c in collections {
                    print("collection \(c["name"]!): mode \(c["mode"]!), quiet period \(c["quiet_period_ms"]!) ms")
                }
                for p in problems { print("problem: \(p)") }
                print(problems.isEmpty ? "ok" : "\(problems.count) problem(s)")
            }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }
}
