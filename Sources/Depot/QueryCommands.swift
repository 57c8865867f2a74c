import ArgumentParser
import DepotCore
import DepotQueue
import DepotStore
import Foundation

/// `depot ls [COLLECTION]`: documents with their current version.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List documents (all collections, or one).")

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "Only this collection.")
    var collection: String?

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let documents = try context.openQueue().documentRecords(DocumentQuery(collection: collection, orderByPath: true))
        if output.json {
            try printJSON(documents)
            return
        }
        printTable(["PATH", "VERSION", "SIZE", "UPDATED", "PROCESSING", "TAGS"], documents.map { d in
            [d.collection + "/" + d.path, "\(d.currentVersion)", humanBytes(d.size),
             d.updatedAt.description, d.processingStatus.rawValue, d.tags.joined(separator: ",")]
        })
    }
}

/// `depot log COLLECTION/PATH`: a document's versions.
struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Show the versions of a document.")

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "COLLECTION/PATH of the document.")
    var path: String

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let (collection, inside) = try splitDocumentPath(path)
        let versions = try context.openCatalog().versions(collection: collection, path: inside)
        guard !versions.isEmpty else { throw NotFound("no document \(path)") }
        if output.json {
            try printJSON(versions.map(VersionRecord.init))
            return
        }
        printTable(["VERSION", "SHA256", "SIZE", "INGESTED", "ORIGIN"], versions.reversed().map { v in
            ["\(v.number)", v.digest.hex, humanBytes(v.size), timestamp(v.ingestedAtNanoseconds), v.origin]
        })
    }
}

/// `depot get COLLECTION/PATH [--version N] [-o FILE]`: the bytes of a version, checked on the way out.
struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Write a document's bytes (current version, or --version N) to a file or stdout.",
        discussion: "The bytes are re-hashed as they are written; a mismatch is an error and no output file is left.")

    @OptionGroup var rootOptions: RootOptions

    @Argument(help: "COLLECTION/PATH of the document.")
    var path: String

    @Option(name: .long, help: "Version number (default: current).")
    var version: Int?

    @Option(name: .shortAndLong, help: "Write here instead of stdout (atomically).")
    var output: String?

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let (collection, inside) = try splitDocumentPath(path)
        guard let info = try context.openCatalog().version(collection: collection, path: inside, number: version) else {
            throw NotFound(version.map { "no version \($0) of \(path)" } ?? "no document \(path)")
        }
        let reader = try context.openStore().open(info.digest)
        let destination = output.map(absolutePath)
        let temp = destination.map { directoryName($0) + "/." + baseName($0) + ".depot-get-\(getpid())" }
        let fd: Int32
        if let temp {
            fd = try sysCall("open", path: temp) { open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
        } else {
            fd = STDOUT_FILENO
        }
        do {
            let hasher = SHA256Hasher()
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
            defer { buffer.deallocate() }
            while true {
                let n = try reader.read(into: buffer)
                if n == 0 { break }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                hasher.update(chunk)
                try writeFully(fd, chunk, path: temp ?? "stdout")
            }
            guard hasher.finish() == info.digest else {
                throw CommandFailure(.dataError, "blob \(info.digest.hex) does not match its hash: the store is damaged (run depot verify)")
            }
            if let temp, let destination {
                try fsyncOnce(fd, path: temp)
                close(fd)
                try sysCall("rename", path: destination) { rename(temp, destination) }
            }
        } catch {
            if let temp {
                close(fd)
                unlink(temp)
            }
            throw error
        }
    }
}
