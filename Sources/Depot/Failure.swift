import ArgumentParser
import DepotCore
import DepotHTTP
import DepotQueue
import DepotStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a command failed, in one line and with its exit status (sysexits(3)): printed as
/// `depot: <message>` without the usage text, which is for mistakes in the command line only.
///
/// | status | meaning |
/// | --- | --- |
/// | 1 | what was asked for is not there (a document, version, job, link, token), or `depot verify` found damage |
/// | 64 | the command line is wrong (EX_USAGE; the usage text follows) |
/// | 65 | the data given is wrong (EX_DATAERR): a file the ignore list refuses, a blob that does not match its hash |
/// | 66 | an input does not exist (EX_NOINPUT): a path to ingest, a config file, a root never initialised |
/// | 69 | a service is unavailable (EX_UNAVAILABLE): another `depot serve` runs on the root, the port is taken |
/// | 70 | an internal error (EX_SOFTWARE) |
/// | 74 | an I/O error (EX_IOERR): a read or write failed, the disk is full |
/// | 75 | a temporary failure (EX_TEMPFAIL): the catalog stayed busy; try again |
/// | 78 | the configuration is wrong (EX_CONFIG) |
struct CommandFailure: Error, CustomStringConvertible {
    enum Status: Int32 {
        case notFound = 1, usage = 64, dataError = 65, noInput = 66, unavailable = 69, software = 70, ioError = 74,
             tempFail = 75, config = 78
    }

    let status: Status
    let message: String

    init(_ status: Status, _ message: String) {
        self.status = status
        self.message = message
    }

    var description: String { message }

    /// The failure an error of a library part of depot means for the command line.
    static func from(_ error: Error) -> CommandFailure? {
        switch error {
        case let e as CommandFailure: return e
        case let e as ConfigError: return CommandFailure(.config, e.description)
        case let e as LinkKeyError: return CommandFailure(.config, e.message)
        case let e as SystemError:
            return CommandFailure(e.errno == ENOENT || e.errno == ENOTDIR ? .noInput : .ioError, e.description)
        case let e as CatalogError:
            switch e.value {
            case .busy: return CommandFailure(.tempFail, e.description)
            case .io: return CommandFailure(.ioError, e.description)
            case .schema: return CommandFailure(.unavailable, e.description)
            default: return CommandFailure(.software, e.description)
            }
        case let e as BlobStoreError:
            return CommandFailure(e.value == .missing ? .ioError : .dataError, e.description)
        case let e as TrashError:
            return CommandFailure(e.value == .notFound || e.value == .notInTrash ? .notFound : .dataError, e.message)
        case let e as JobQueueError:
            return CommandFailure(e.value == .notFound ? .notFound : .usage, e.message)
        case let e as LinkError:
            return CommandFailure(e.value == .notFound ? .notFound : .usage, e.message)
        case let e as CatalogCopyError:
            // A target refused is not there to use; a copy that differs is wrong data.
            switch e.value {
            case .notEmpty, .otherCatalog: return CommandFailure(.unavailable, e.message)
            case .schemaDiffers, .mismatch: return CommandFailure(.dataError, e.message)
            }
        default: return nil
        }
    }
}

/// A thing asked for that is not there (exit status 1).
func NotFound(_ message: String) -> CommandFailure { CommandFailure(.notFound, message) }

extension DepotCommand {
    /// Runs the command line: a runtime failure is one line and its sysexits status; a mistake
    /// in the command line gets ArgumentParser's message and usage (64); an unknown command a
    /// suggestion.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let unknown = unknownCommand(in: arguments) {
            FileHandle.standardError.write(Data("depot: \(unknown)\n".utf8))
            Glibc.exit(CommandFailure.Status.usage.rawValue)
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if let failure = CommandFailure.from(error) {
                FileHandle.standardError.write(Data("depot: \(failure.message)\n".utf8))
                Glibc.exit(failure.status.rawValue)
            }
            exit(withError: error)
        }
    }

    /// "unknown command 'lss' (did you mean 'ls'?)" when the first word names no command.
    static func unknownCommand(in arguments: [String]) -> String? {
        guard let first = arguments.first, !first.hasPrefix("-"), first != "help" else { return nil }
        let names = configuration.subcommands.map { $0.configuration.commandName ?? String(describing: $0).lowercased() }
        guard !names.contains(first) else { return nil }
        let visible = configuration.subcommands.filter { $0.configuration.shouldDisplay }
            .compactMap { $0.configuration.commandName }
        let nearest = visible.map { ($0, editDistance($0, first)) }.min { $0.1 < $1.1 }
        var text = "unknown command '\(first)'"
        if let (name, distance) = nearest, distance <= max(1, first.count / 3) { text += " (did you mean '\(name)'?)" }
        return text + "; `depot --help` lists the commands"
    }
}

/// Levenshtein distance.
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a), y = Array(b)
    var row = Array(0...y.count)
    for i in 1...max(x.count, 1) where !x.isEmpty {
        var previous = row[0]
        row[0] = i
        for j in 1...max(y.count, 1) where !y.isEmpty {
            let kept = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (x[i - 1] == y[j - 1] ? 0 : 1))
            previous = kept
        }
    }
    return x.isEmpty ? y.count : row[y.count]
}
