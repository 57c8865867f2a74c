#if canImport(Glibc)
import Glibc
#endif
import DepotCore
import Logging

/// One collection's settings as last read, with its `.depot.toml`.
struct CollectionState {
    static let overrideFileName = CollectionSettingsResolver.overrideFileName

    /// nil while the collection's `.depot.toml` is broken: its mode is unknown, so nothing is taken.
    var settings: CollectionSettings?
    var rules: IgnoreRules
    /// Size, mtime and inode of `.depot.toml` when it was read; nil when there is none.
    var overrideIdentity: FileIdentity?
}

extension InboxWatcher {
    // MARK: - Collections

    /// Reads a collection's `.depot.toml` again if it changed (or `force`); returns whether the settings changed.
    @discardableResult
    func refreshCollection(_ name: String, force: Bool) -> Bool {
        let path = resolver.overrideFile(of: name)
        let old = collections[name]
        var identity: FileIdentity?
        var overrides: CollectionOverrides?
        var problem: String?
        switch lstatus(path) {
        case .success(nil):
            break
        case .success(let st?):
            identity = FileIdentity(st)
            if !force, let old, old.overrideIdentity == identity { return false }
            if st.st_mode & S_IFMT != S_IFREG {
                problem = "not a regular file"
            } else {
                do {
                    overrides = try resolver.readOverrideFile(of: name)
                } catch {
                    problem = "\(error)"
                }
            }
        case .failure(let error):
            problem = "\(error)"
        }
        if !force, let old, old.overrideIdentity == nil, identity == nil { return false }

        var state: CollectionState
        if let problem {
            // The mode might be mirror: consuming these files on a guess would lose the user's copies.
            logger.error("collection settings are broken; no file of this collection is taken until they are fixed",
                         metadata: ["collection": "\(name)", "path": "\(path)", "error": "\(problem)"])
            state = CollectionState(settings: nil, rules: IgnoreRules(settings.ignore), overrideIdentity: identity)
            // Forget what was pending there; a rescan after the fix finds it again.
            for key in candidates.keys where key.hasPrefix(name + "/") && candidates[key]?.handedOut != true {
                candidates[key] = nil
            }
        } else {
            let resolved = resolver.settings(for: name, file: overrides)
            state = CollectionState(settings: resolved, rules: IgnoreRules(resolved.ignore), overrideIdentity: identity)
            if old != nil && (old?.settings != resolved) {
                logger.info("collection settings changed", metadata: [
                    "collection": "\(name)", "mode": "\(resolved.mode.rawValue)",
                    "quietPeriod": "\(formatDuration(resolved.quietPeriod))"])
            }
        }
        collections[name] = state
        return old == nil || old?.settings != state.settings
    }

    // MARK: - Watches

    /// Watches the inbox folder itself, or polls the whole inbox when no watch can be had.
    func watchInboxRoot() throws {
        if atWatchLimit {
            startPolling("")
            return
        }
        do {
            let wd = try inotify!.addWatch(inboxPath)
            recordWatch(wd, folder: "")
        } catch let error as SystemError where error.errno == ENOSPC {
            startPolling("")
        }
    }

    var atWatchLimit: Bool {
        settings.maxWatches > 0 && watchOfFolder.count >= settings.maxWatches
    }

    /// Watches a folder unless it lies in a polled tree; when the watch limit is reached the
    /// folder becomes the root of a polled tree. Returns whether it is watched.
    @discardableResult
    func watchFolder(_ folder: String) -> Bool {
        guard let inotify else { return false }
        if watchOfFolder[folder] != nil { return true }
        if hasPolledAncestor(folder) { return false }
        if atWatchLimit {
            startPolling(folder)
            return false
        }
        do {
            let wd = try inotify.addWatch(absolutePath(folder))
            recordWatch(wd, folder: folder)
            if pollRoots.remove(folder) != nil {
                logger.info("inotify watches available again; no longer polling this tree",
                            metadata: ["path": "\(absolutePath(folder))"])
                if pollRoots.isEmpty { nextPollScan = .max }
            }
            return true
        } catch let error as SystemError {
            switch error.errno {
            case ENOSPC:
                startPolling(folder)
            case ENOENT, ENOTDIR:
                break // Gone (or replaced) since it was seen; its parent's events tell the rest.
            default:
                logger.warning("cannot watch folder", metadata: ["path": "\(absolutePath(folder))", "error": "\(error)"])
            }
            return false
        } catch {
            return false
        }
    }

    private func recordWatch(_ wd: Int32, folder: String) {
        // The same folder reached by another path gets the same wd: the newest path wins.
        if let previous = folderOfWatch[wd], previous != folder { watchOfFolder[previous] = nil }
        folderOfWatch[wd] = folder
        watchOfFolder[folder] = wd
    }

    func forgetWatch(_ wd: Int32) {
        if let folder = folderOfWatch.removeValue(forKey: wd) { watchOfFolder[folder] = nil }
    }

    /// Makes `folder` the root of a tree that is scanned every `pollInterval` instead of watched.
    func startPolling(_ folder: String) {
        // A polled tree includes its subtrees; nested roots are merged into it.
        for root in pollRoots where isInside(root, folder) && root != folder { pollRoots.remove(root) }
        pollRoots.insert(folder)
        if nextPollScan == .max {
            nextPollScan = monotonicNanoseconds() + settings.pollInterval.nanosecondsValue
        }
        if warnedPollRoots.insert(folder).inserted {
            let path = absolutePath(folder)
            let every = formatDuration(settings.pollInterval)
            logger.warning("inotify watch limit reached at \(path): polling this tree every \(every); raise fs.inotify.max_user_watches",
                           metadata: ["path": "\(path)"])
        }
    }

    /// Whether a strict ancestor of `folder` ("" included) is the root of a polled tree.
    func hasPolledAncestor(_ folder: String) -> Bool {
        if folder.isEmpty || pollRoots.isEmpty { return false }
        if pollRoots.contains("") { return true }
        var prefix = ""
        let parts = folder.split(separator: "/")
        for part in parts.dropLast() {
            prefix = prefix.isEmpty ? String(part) : prefix + "/" + part
            if pollRoots.contains(prefix) { return true }
        }
        return false
    }

    /// Whether `path` is `folder` or lies under it ("" holds everything).
    func isInside(_ path: String, _ folder: String) -> Bool {
        folder.isEmpty || path == folder || path.hasPrefix(folder + "/")
    }

    /// A folder was deleted or moved away: drop its watches, polled trees and files.
    func removeTree(_ folder: String) {
        for (path, wd) in watchOfFolder where isInside(path, folder) {
            inotify?.removeWatch(wd)
            forgetWatch(wd)
        }
        for root in pollRoots where isInside(root, folder) { pollRoots.remove(root) }
        if pollRoots.isEmpty { nextPollScan = .max }
        forgetFiles(under: folder, except: [])
        if !folder.contains("/") { collections[folder] = nil }
    }

    /// Forgets candidates, stored identities and skip notices under `folder` that are not in `seen`.
    private func forgetFiles(under folder: String, except seen: Set<String>) {
        for key in candidates.keys where isInside(key, folder) && !seen.contains(key) { candidates[key] = nil }
        for key in stored.keys where isInside(key, folder) && !seen.contains(key) { stored[key] = nil }
        for key in skipNoticed where isInside(key, folder) && !seen.contains(key) { skipNoticed.remove(key) }
    }

    // MARK: - Scans

    /// Walks the whole inbox: watches what lacks a watch, finds files the events missed,
    /// forgets files that are gone, and drops collections whose folder is gone.
    func fullRescan(now: Int64) {
        counters.rescans += 1
        rescanRequested = false
        if watchOfFolder[""] == nil { watchFolder("") }
        var present: [String] = []
        TreeScanner.walk(absolutePath: inboxPath, relativePath: "", visit: { entry in
            // Only folders are collections; a dotted name is never one.
            if entry.isDirectory && !entry.name.hasPrefix(".") { present.append(entry.name) }
            if entry.isRegularFile { noticeOutsideCollections(entry.name) }
            return false
        }, onError: { error in
            logger.error("cannot read the inbox folder", metadata: ["error": "\(error)"])
        })
        for name in collections.keys where !present.contains(name) { removeTree(name) }
        // Candidates directly in inbox/ or in dotted folders cannot exist; the rest is per collection.
        for name in present.sorted() {
            scanTree(name, watching: true, now: now)
        }
        let names = Set(present)
        for key in candidates.keys where !names.contains(split(key).0) { candidates[key] = nil }
        for key in stored.keys where !names.contains(split(key).0) { stored[key] = nil }
        nextRescan = now + settings.rescanInterval.nanosecondsValue
        // Everything polled was just walked as well.
        if !pollRoots.isEmpty { nextPollScan = now + settings.pollInterval.nanosecondsValue }
    }

    /// Walks every tree that has no watches.
    func pollUnwatchedTrees(now: Int64) {
        if pollRoots.contains("") {
            // Not even the inbox folder is watched: polling it is a full rescan.
            fullRescan(now: now)
        } else {
            for root in pollRoots.sorted() { scanTree(root, watching: false, now: now) }
        }
        nextPollScan = pollRoots.isEmpty ? .max : now + settings.pollInterval.nanosecondsValue
    }

    /// Walks one tree of a collection (the collection itself or a folder in it): adds watches
    /// when `watching`, finds its files, and forgets files under it that are gone.
    func scanTree(_ folder: String, watching: Bool, now: Int64) {
        let (collection, inner) = split(folder)
        if inner.isEmpty { refreshCollection(collection, force: false) }
        guard let state = collections[collection] else { return }
        // Ignored folders (`.git`, a `*.tmp` folder) are neither watched nor walked.
        if !inner.isEmpty && state.rules.ignores(relativePath: inner) { return }
        if watching { watchFolder(folder) }
        var seen: Set<String> = []
        let overrideFile = collection + "/" + CollectionState.overrideFileName
        TreeScanner.walk(absolutePath: absolutePath(folder), relativePath: folder, visit: { entry in
            // The collection's own settings file is never content, whatever the ignore list says.
            if state.rules.ignores(name: entry.name) || entry.relativePath == overrideFile { return false }
            if entry.isDirectory {
                if watching { watchFolder(entry.relativePath) }
                return true
            }
            seen.insert(entry.relativePath)
            if entry.isRegularFile {
                // A broken `.depot.toml`: files are seen (so nothing is forgotten) but not taken.
                if state.settings != nil { noticeFound(entry.relativePath, entry.status, now: now) }
            } else {
                noticeSkip(entry.relativePath, "it is not a regular file")
            }
            return false
        }, onError: { error in
            if error.errno == ENOENT { return }
            logger.warning("cannot scan folder", metadata: ["error": "\(error)"])
        })
        forgetFiles(under: folder, except: seen)
    }

    /// A regular file found by a walk rather than an event: it goes through the quiet period,
    /// unless it is already pending or (mirror mode) stored unchanged.
    func noticeFound(_ key: String, _ st: stat, now: Int64) {
        let identity = FileIdentity(st)
        if var candidate = candidates[key] {
            // Open for writing: not taken, but a change pushes its open timeout back.
            if candidate.open && candidate.snapshot != identity {
                candidate.snapshot = identity
                candidate.lastChange = now
                candidates[key] = candidate
            }
            // Pending, in backoff or with the ingest: leave it be.
            return
        }
        let (collection, _) = split(key)
        guard let settings = collections[collection]?.settings else { return }
        if settings.mode == .mirror, let old = stored[key], old.sameContent(as: identity) { return }
        candidates[key] = Candidate(lastChange: now,
                                    quietUntil: now + settings.quietPeriod.nanosecondsValue,
                                    snapshot: identity)
    }
}
