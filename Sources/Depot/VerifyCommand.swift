import ArgumentParser
import DepotCore
import DepotQueue
import DepotStore
import Foundation

/// `depot verify`: re-hash every blob the catalog knows.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-hash every stored blob; exit non-zero if any is missing or damaged.",
        discussion: """
            Each bad blob is named with the documents, versions and artifacts whose bytes it holds, \
            and how to repair it: a version is healed by dropping a good copy of that file into its \
            collection again (or `depot ingest FILE --collection C`): depot hashes it, finds the \
            damaged stored copy and replaces it. An artifact is made again by its job \
            (`depot jobs add`). Exit status: 0 all good, 1 some blob is missing or damaged.
            """)

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "Restore a missing or damaged blob from FILE, a copy with the same bytes (its SHA-256 names the blob).")
    var repair: String?

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let store = try context.openStore()
        if let repair { return try self.repair(absolutePath(repair), store: store, catalog: try context.openCatalog()) }
        let catalog = try context.openCatalog()
        let blobs = try catalog.blobs()
        let total = blobs.reduce(Int64(0)) { $0 + $1.size }
        let progress = Progress(label: "verify", total: total)
        var done: Int64 = 0
        var problems: [(digest: String, problem: String)] = []
        var healed: [String] = []
        // The scrub's check: what is found is recorded (a damaged blob is never served until it
        // is healed, one found good again is served again), and a damaged blob is restored from
        // [scrub] second_copy when its bytes there hash right.
        let checker = BlobChecker(catalog: catalog, store: store, secondCopy: context.config.scrub.secondCopy.map(SecondCopy.init(root:)),
                                  who: "depot verify")
        for (index, blob) in blobs.enumerated() {
            let outcome = try checker.check(blob.digest, size: blob.size) { n in
                done += Int64(n)
                progress.update(done: done, detail: "\(index + 1)/\(blobs.count) blobs")
            }
            switch outcome {
            case .intact:
                break
            case .damaged(let problem):
                problems.append((blob.digest.hex, problem))
                FileHandle.standardError.write(Data("depot: blob \(blob.digest.hex) is damaged (\(problem)); it is no longer served\n".utf8))
            case .healed(let problem):
                healed.append(blob.digest.hex)
                FileHandle.standardError.write(Data("depot: blob \(blob.digest.hex) was damaged (\(problem)); restored from the second copy\n".utf8))
            }
        }
        progress.finish()
        let all = try problems.map { p -> Report.Problem in
            let uses = try Digest(hex: p.digest).map { try catalog.uses(of: $0) }
            return Report.Problem(sha256: p.digest, problem: p.problem,
                                  versions: uses?.versions.map { Report.Use(version: $0) } ?? [],
                                  artifacts: uses?.artifacts.map { Report.Use(artifact: $0.artifact, of: $0.of) } ?? [])
        }
        // A blob nothing uses is garbage, not damage: `depot gc` removes its row (a collection
        // killed between its unlink and its commit leaves such rows behind).
        let bad = all.filter { !$0.versions.isEmpty || !$0.artifacts.isEmpty }
        let garbage = all.filter { $0.versions.isEmpty && $0.artifacts.isEmpty }
        if output.json {
            try printJSON(Report(blobs: blobs.count, bytes: total, problems: bad, unreferenced: garbage, healed: healed))
        } else {
            for p in bad {
                print("BAD \(p.sha256): \(p.problem)")
                for use in p.versions + p.artifacts { print("  \(use.what)\n    repair: \(use.repair)") }
            }
            for digest in healed { print("HEALED \(digest): restored from the second copy") }
            for p in garbage { print("unreferenced \(p.sha256): \(p.problem); nothing uses it, `depot gc` removes it") }
            print("\(blobs.count) blobs, \(humanBytes(total)) checked: \(bad.isEmpty ? "all good" : "\(bad.count) bad")")
        }
        if !bad.isEmpty { throw ExitCode(1) }
    }

    /// `--repair FILE`: stores FILE's bytes as the blob they name, when the catalog knows that
    /// blob; the store's commit re-hashes what it holds and replaces it when it is damaged or
    /// missing (FILE is hashed on its way in, so only the right bytes get there).
    func repair(_ file: String, store: any BlobStore, catalog: Catalog) throws {
        let staged = try store.stage(BlobSource(path: file, mayLink: false))
        guard try catalog.blobs().contains(where: { $0.digest == staged.digest }) else {
            store.discard(staged)
            throw CommandFailure(.dataError, "\(file): its bytes (sha256 \(staged.digest.hex)) are no blob this depot holds; nothing repaired")
        }
        let outcome = try store.commit([staged])[0]
        try catalog.markIntact([staged.digest], how: "depot verify --repair")
        guard try store.verify(staged.digest) else {
            throw CommandFailure(.ioError, "blob \(staged.digest.hex) still does not match after the repair")
        }
        switch outcome {
        case .healed: print("repaired \(staged.digest.hex) from \(file)")
        case .new: print("restored missing \(staged.digest.hex) from \(file)")
        case .existing: print("\(staged.digest.hex) was intact; nothing to repair")
        }
    }

    /// What `--json` prints.
    struct Report: Encodable {
        struct Problem: Encodable {
            var sha256: String
            var problem: String
            /// The versions whose bytes it is, and the artifacts made of it.
            var versions: [Use]
            var artifacts: [Use]
        }
        /// Something whose bytes a bad blob holds, and how to get them back.
        struct Use: Encodable {
            var collection: String
            var path: String
            var documentID: Int64
            var version: Int
            var artifact: String?
            var what: String
            var repair: String

            enum CodingKeys: String, CodingKey {
                case collection, path, version, artifact, what, repair
                case documentID = "document_id"
            }

            init(version v: VersionInfo) {
                (collection, path, documentID, version, artifact) = (v.collection, v.path, v.documentID, v.number, nil)
                what = "\(v.collection)/\(v.path) version \(v.number) (document \(v.documentID))"
                repair = "drop a good copy of \(v.path) (version \(v.number)'s bytes) into inbox/\(v.collection)/ again, "
                    + "or `depot ingest FILE --collection \(v.collection)`: the damaged stored copy is replaced by it"
            }

            init(artifact a: ArtifactInfo, of v: VersionInfo) {
                (collection, path, documentID, version, artifact) = (v.collection, v.path, v.documentID, v.number, a.kind)
                what = "\(a.kind) of \(v.collection)/\(v.path) version \(v.number) (document \(v.documentID))"
                let kind = JobKinds.making(artifact: a.kind)?.name ?? "extract"
                repair = "make it again: `depot jobs add \(v.collection)/\(v.path) --version \(v.number) --kind \(kind)`"
            }
        }
        var blobs: Int
        var bytes: Int64
        var problems: [Problem]
        /// Missing or damaged blobs nothing uses (garbage for `depot gc`, not a failure).
        var unreferenced: [Problem]
        /// Damaged blobs restored from `[scrub] second_copy` during this run.
        var healed: [String]
    }
}
