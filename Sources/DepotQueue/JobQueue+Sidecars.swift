import DepotCore
import DepotStore

extension JobQueue {
    /// The kinds that read sidecars with `path`'s extension.
    static func kindsReadingSidecar(_ path: String) -> [JobKind] {
        JobKinds.all.filter { !$0.sidecars.isEmpty && Sidecars.isCandidate(path, extensions: $0.sidecars) }
    }

    /// A sidecar (lecture.en.srt) stored after its recording: each recording in its folder it
    /// belongs to gets the kinds that read it queued again for its current version, in the
    /// sidecar's transaction. A job of that kind still queued or waiting reads it when it
    /// runs, so none is added beside it.
    /// - Returns: the new jobs' ids.
    @discardableResult
    func queueSidecarReaders(of sidecar: VersionInfo, chooser: ProcessorChooser, in tx: any CatalogTransaction) throws -> [Int64] {
        let kinds = Self.kindsReadingSidecar(sidecar.path)
        guard !kinds.isEmpty, let prefix = Sidecars.recordingPrefix(ofSidecar: sidecar.path) else { return [] }
        var ids: [Int64] = []
        for document in try catalog.documents(DocumentQuery(collection: sidecar.collection, pathPrefix: prefix), in: tx)
        where document.id != sidecar.documentID {
            let mediaType = document.mediaType ?? "application/octet-stream"
            let planned = Set(Pipeline.kinds(for: mediaType).map(\.name))
            let existing = try jobs(versionID: document.currentVersionID, in: tx)
            let before = ids.count
            for kind in kinds where planned.contains(kind.name)
            && Sidecars.match(recording: document.path, candidate: sidecar.path, extensions: kind.sidecars) != nil {
                guard let processor = chooser(kind.name, mediaType) else { continue }
                if existing.contains(where: { $0.kind == kind.name && ($0.state == .queued || $0.state == .waiting) }) { continue }
                var waits: [Int64] = []
                var blocked = false
                for dependency in kind.waitsFor {
                    guard let latest = existing.last(where: { $0.kind == dependency }) else { continue }
                    if latest.state.endedWithoutSuccess { blocked = true }
                    if !latest.state.isFinished { waits.append(latest.id) }
                }
                // A recording its extract could not read has nothing a sidecar would add to.
                if blocked { continue }
                let parameters = try kind.resolve([:], defaults: settings.defaultParameters(kind: kind.name, collection: document.collection))
                ids.append(try insert(kind: kind, versionID: document.currentVersionID, mediaType: mediaType,
                                      mediaClass: MediaClass.of(mediaType), processor: processor, parameters: parameters,
                                      priority: settings.priority(of: kind), queuedBy: "sidecar", waitsFor: waits,
                                      ready: waits.isEmpty, in: tx))
            }
            if ids.count > before { try refreshStatus(versionID: document.currentVersionID, in: tx) }
        }
        return ids
    }
}
