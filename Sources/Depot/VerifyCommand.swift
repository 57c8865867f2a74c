import ArgumentParser
import DepotCore
import DepotStore
import Foundation

/// `depot verify`: re-hash every blob the catalog knows.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-hash every stored blob; exit non-zero if any is missing or damaged.")

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let store = try context.openStore()
        let blobs = try context.openCatalog().blobs()
        let total = blobs.reduce(Int64(0)) { $0 + $1.size }
        let progress = Progress(label: "verify", total: total)
        var done: Int64 = 0
        var problems: [(digest: String, problem: String)] = []
        for (index, blob) in blobs.enumerated() {
            do {
                if try store.size(of: blob.digest) != blob.size {
                    problems.append((blob.digest.hex, try store.contains(blob.digest) ? "wrong size" : "missing"))
                } else if try !store.verify(blob.digest, progress: { n in
                    done += Int64(n)
                    progress.update(done: done, detail: "\(index + 1)/\(blobs.count) blobs")
                }) {
                    problems.append((blob.digest.hex, "content does not match its SHA-256"))
                }
            } catch {
                problems.append((blob.digest.hex, "\(error)"))
            }
        }
        progress.finish()
        if output.json {
            try printJSON(["blobs": blobs.count, "bytes": total,
                           "problems": problems.map { ["sha256": $0.digest, "problem": $0.problem] }] as [String: Any])
        } else {
            for p in problems { print("BAD \(p.digest): \(p.problem)") }
            print("\(blobs.count) blobs, \(humanBytes(total)) checked: \(problems.isEmpty ? "all good" : "\(problems.count) bad")")
        }
        if !problems.isEmpty { throw ExitCode(1) }
    }
}
