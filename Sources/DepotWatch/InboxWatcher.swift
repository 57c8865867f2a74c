// DepotWatch: finds the files in inbox/ that are complete and hands them to the ingest loop.
//
// It owns the inotify watches on every folder of the inbox (Inotify.swift) and the fallback
// to polling a tree when the watch limit is reached, the full rescans at start-up, on a
// timer and after a queue overflow (TreeScanner.swift), the "open for writing" state and
// the quiet period, the ignore rules (IgnoreRules.swift), each collection's settings and
// its `.depot.toml`, the retry backoff of files that failed to ingest, and, in mirror mode,
// which files are stored already (InboxWatcher+Folders.swift). It knows nothing of the
// store: the daemon's loop calls `poll`, ingests what it gets, and reports back with
// `completed`, `failed` or `changed`.
#if canImport(Glibc)
import Glibc
#endif
import DepotCore
import Logging

/// Watches `inbox/` and hands out each file once it is complete.
///
/// Used by one thread only (the daemon's ingest loop): no method may be called concurrently.
/// It is `@unchecked Sendable` so that it can be created on one thread and moved to that one.
public final class InboxWatcher: @unchecked Sendable {
    /// A file the watcher knows about and has not seen stored.
    struct Candidate {
        /// Saw IN_CREATE or IN_MODIFY and no IN_CLOSE_WRITE since: a writer has it open.
        var open = false
        /// The last time (monotonic) the file was seen changing, for `openTimeout`.
        var lastChange: Int64 = 0
        /// When the current quiet period ends; nil when none is running.
        var quietUntil: Int64?
        /// Size, mtime and inode when last looked at; the quiet period compares against it.
        var snapshot: FileIdentity?
        /// With the ingest loop now: not handed out again until it reports back.
        var handedOut = false
        /// In backoff after a failed ingest: not handed out before this time.
        var retryAt: Int64?
        var retryDelay: Int64 = 0
        /// Why the last ingest failed; set means the reason was logged already.
        var failure: String?
    }

    /// What the clock does to one candidate.
    enum Step {
        case wait(until: Int64?)
        case ready(InboxFile)
        case forget
    }

    let inboxPath: String
    var settings: InboxSettings
    /// Works out each collection's settings (the same resolver the HTTP server asks).
    var resolver: CollectionSettingsResolver
    let logger: Logger
    var inotify: Inotify?

    /// Folders are named by their path relative to the inbox ("" is the inbox itself).
    var folderOfWatch: [Int32: String] = [:]
    var watchOfFolder: [String: Int32] = [:]
    /// Roots of trees without watches (watch limit), scanned every `pollInterval`.
    var pollRoots: Set<String> = []
    var warnedPollRoots: Set<String> = []
    var collections: [String: CollectionState] = [:]
    /// Keyed by the path relative to the inbox ("lectures/physics/a.mp4").
    var candidates: [String: Candidate] = [:]
    /// Mirror mode: what each stored file looked like, so an unchanged one is not taken again.
    var stored: [String: FileIdentity] = [:]
    /// Entries already logged as skipped (not regular files, names that are not UTF-8).
    var skipNoticed: Set<String> = []

    var nextRescan: Int64 = .max
    var nextPollScan: Int64 = .max
    var rescanRequested = false
    var counters = WatcherStatus.Counters()

    /// How long a file written without a visible close (NFS writers) must stay unchanged
    /// before it is treated as closed.
    var openTimeout: Int64 = 600 * 1_000_000_000

    /// Creates a watcher for the `inbox` folder; nothing happens before `start()`.
    public init(inbox: String, settings: InboxSettings, collections: CollectionSettingsResolver, logger: Logger) {
        var path = inbox
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.inboxPath = path
        self.settings = settings
        self.resolver = collections
        self.logger = logger
    }

    deinit {
        inotify?.close()
    }

    /// Starts watching: one inotify instance, a watch on every folder, then a full scan,
    /// which finds the files that arrived while depot was not running.
    /// - Throws: `SystemError` when inotify cannot be set up or the inbox cannot be watched.
    public func start() throws {
        guard inotify == nil else { return }
        guard case .success(let st?) = lstatus(inboxPath), st.st_mode & S_IFMT == S_IFDIR else {
            throw SystemError(call: "stat", errno: ENOTDIR, path: inboxPath)
        }
        let instance = try Inotify()
        inotify = instance
        do {
            try watchInboxRoot()
        } catch {
            instance.close()
            inotify = nil
            throw error
        }
        fullRescan(now: monotonicNanoseconds())
    }

    /// Waits for events at most `timeout`, handles them, and returns the files ready now.
    ///
    /// Returns as soon as at least one file is ready. The wait is shorter when a quiet
    /// period, a retry, a poll of an unwatched tree or a rescan falls due sooner.
    public func poll(timeout: Duration) -> [InboxFile] {
        let deadline = monotonicNanoseconds() &+ max(0, timeout.nanosecondsValue)
        guard let inotify else {
            // Not started or closed: behave like an idle watcher rather than spin the caller.
            sleepUntil(deadline)
            return []
        }
        while true {
            readEvents(inotify)
            var now = monotonicNanoseconds()
            if rescanRequested || now >= nextRescan {
                fullRescan(now: now)
                // A file the scan found may have been created after the read above: its
                // IN_CREATE (the writer holds it open) is queued by now, and must be seen
                // before the file counts as quiet, or a zero quiet period takes it empty.
                readEvents(inotify)
            } else if now >= nextPollScan {
                pollUnwatchedTrees(now: now)
            }
            now = monotonicNanoseconds()
            let (files, nextDue) = collectReady(now: now)
            if !files.isEmpty { return files }
            if now >= deadline { return [] }
            let wake = min(deadline, nextDue ?? .max, nextRescan, nextPollScan)
            let milliseconds = wake <= now ? 0 : min((wake - now + 999_999) / 1_000_000, Int64(Int32.max))
            _ = inotify.wait(milliseconds: Int32(milliseconds))
        }
    }

    /// The ingest stored `file`: forget it, or in mirror mode remember what it looked like.
    public func completed(_ file: InboxFile) {
        let key = file.key
        if file.mode == .mirror {
            stored[key] = file.identity
        } else {
            stored[key] = nil
        }
        guard var candidate = candidates[key] else { return }
        if let failure = candidate.failure {
            logger.info("stored after earlier failures", metadata: [
                "path": "\(file.absolutePath)", "earlierError": "\(failure)"])
        }
        candidate.handedOut = false
        candidate.failure = nil
        candidate.retryAt = nil
        candidate.retryDelay = 0
        // Events during the ingest (a writer at work again) started a new round: keep it.
        if candidate.open || candidate.quietUntil != nil {
            candidates[key] = candidate
        } else {
            candidates[key] = nil
        }
    }

    /// The ingest could not store `file`; it stays and is retried with exponential backoff.
    ///
    /// The reason is logged once per file (as a warning), not on every retry.
    public func failed(_ file: InboxFile, reason: String) {
        let key = file.key
        let now = monotonicNanoseconds()
        var candidate = candidates[key] ?? Candidate(lastChange: now, snapshot: file.identity)
        counters.ingestFailures += 1
        let initial = max(1, settings.retryInitial.nanosecondsValue)
        let maximum = max(initial, settings.retryMax.nanosecondsValue)
        candidate.retryDelay = candidate.retryDelay == 0 ? initial : min(candidate.retryDelay * 2, maximum)
        candidate.retryAt = now + candidate.retryDelay
        candidate.handedOut = false
        let delay = formatDuration(.nanoseconds(candidate.retryDelay))
        if candidate.failure == nil {
            logger.warning("cannot store file, it stays in the inbox and is retried", metadata: [
                "path": "\(file.absolutePath)", "error": "\(reason)", "retryIn": "\(delay)"])
        } else {
            logger.debug("cannot store file yet", metadata: [
                "path": "\(file.absolutePath)", "error": "\(reason)", "retryIn": "\(delay)"])
        }
        candidate.failure = reason
        candidates[key] = candidate
    }

    /// The file changed while it was being ingested: take it again after a fresh quiet period.
    public func changed(_ file: InboxFile) {
        let key = file.key
        let now = monotonicNanoseconds()
        var candidate = candidates[key] ?? Candidate(lastChange: now)
        candidate.handedOut = false
        candidate.open = false
        candidate.lastChange = now
        if startQuietPeriod(key, &candidate, now: now) {
            candidates[key] = candidate
        } else {
            candidates[key] = nil
        }
    }

    /// Applies a new configuration (SIGHUP): collection settings are recomputed and the inbox rescanned.
    public func reload(settings: InboxSettings, collections: CollectionSettingsResolver) {
        self.settings = settings
        self.resolver = collections
        for name in self.collections.keys.sorted() {
            refreshCollection(name, force: true)
        }
        rescanRequested = true
    }

    /// Asks for a full rescan at the next `poll`.
    public func requestRescan() {
        rescanRequested = true
    }

    /// Remembers, before `start()`, that a mirror-mode file was stored already (from the catalog),
    /// so that the start-up scan does not hand it out again while it is unchanged.
    public func rememberStored(collection: String, relativePath: String, size: Int64,
                               mtimeNanoseconds: Int64, inode: UInt64) {
        stored[collection + "/" + relativePath] = FileIdentity(size: size, mtime: mtimeNanoseconds,
                                                               device: 0, inode: inode)
    }

    public var status: WatcherStatus {
        WatcherStatus(watchedFolders: watchOfFolder.count,
                      pollingTrees: pollRoots.count,
                      pendingFiles: candidates.count,
                      failingFiles: candidates.values.filter { $0.failure != nil }.count,
                      counters: counters)
    }

    /// Stops watching and forgets everything; `poll` then only waits.
    public func close() {
        inotify?.close()
        inotify = nil
        folderOfWatch = [:]
        watchOfFolder = [:]
        pollRoots = []
        candidates = [:]
        nextRescan = .max
        nextPollScan = .max
    }

    // MARK: - Events

    private func readEvents(_ inotify: Inotify) {
        do {
            let events = try inotify.readEvents()
            let now = monotonicNanoseconds()
            for event in events { handle(event, now: now) }
        } catch {
            // Not expected on a healthy inotify fd; a rescan makes up for whatever was lost.
            logger.error("cannot read inotify events; rescanning", metadata: ["error": "\(error)"])
            rescanRequested = true
        }
    }

    /// Applies one inotify event to the folders and candidates.
    func handle(_ event: InotifyEvent, now: Int64) {
        counters.events += 1
        if event.has(IN_Q_OVERFLOW) {
            // The kernel dropped events: only a walk of everything can tell what happened.
            counters.overflows += 1
            logger.warning("inotify queue overflowed; rescanning the inbox")
            rescanRequested = true
            // A lost IN_CLOSE_WRITE would leave a file "open" for `openTimeout`: treat every open
            // file as found by the rescan instead. A writer still at work sends IN_MODIFY again.
            for (key, candidate) in candidates where candidate.open {
                candidates[key]?.open = false
                candidates[key]?.quietUntil = now
            }
            return
        }
        // Unknown: a watch removed a moment ago (its IN_IGNORED, or events queued before).
        guard let folder = folderOfWatch[event.wd] else { return }
        if event.has(IN_IGNORED) {
            forgetWatch(event.wd)
            if folder.isEmpty {
                logger.error("the inbox folder is gone; nothing is watched until it is back and depot restarts",
                             metadata: ["path": "\(inboxPath)"])
            }
            return
        }
        // Events about the watched folder itself (IN_DELETE_SELF): IN_IGNORED follows.
        if event.name.isEmpty { return }
        let path = folder.isEmpty ? event.name : folder + "/" + event.name
        guard event.nameIsValid else {
            noticeSkip(path, "its name is not valid UTF-8")
            return
        }
        if event.has(IN_ISDIR) {
            handleFolderEvent(path, event, now: now)
            return
        }
        // Files directly in inbox/ belong to no collection: said once, loudly, so the person who
        // dropped it learns where it should go.
        guard let slash = path.firstIndex(of: "/") else {
            if !event.has(IN_DELETE) && !event.has(IN_MOVED_FROM) { noticeOutsideCollections(path) }
            return
        }
        let collection = String(path[..<slash])
        let inner = String(path[path.index(after: slash)...])
        if inner == CollectionState.overrideFileName {
            // A regular file is read once it is closed (a half-written .depot.toml would read as
            // broken); anything else (a symlink, a FIFO: nothing closes those) at once, so the
            // collection is held until it is a plain file again.
            let waitForClose = event.has(IN_MODIFY)
                || (event.has(IN_CREATE) && { if case .success(let st?) = lstatus(absolutePath(path)) { return st.st_mode & S_IFMT == S_IFREG }
                                               return false }())
            if !waitForClose, refreshCollection(collection, force: false) { scanTree(collection, watching: true, now: now) }
            return
        }
        guard let state = collections[collection], let settings = state.settings,
              !state.rules.ignores(relativePath: inner) else { return }
        handleFileEvent(path, event, settings: settings, now: now)
    }

    private func handleFolderEvent(_ path: String, _ event: InotifyEvent, now: Int64) {
        if event.has(IN_DELETE) || event.has(IN_MOVED_FROM) {
            removeTree(path)
            return
        }
        guard event.has(IN_CREATE) || event.has(IN_MOVED_TO) else { return }
        let components = path.split(separator: "/").map(String.init)
        if components.count == 1 {
            // A new collection; a dotted name is never one.
            guard !path.hasPrefix(".") else { return }
            refreshCollection(path, force: false)
        } else if let state = collections[components[0]],
                  state.rules.ignores(relativePath: components.dropFirst().joined(separator: "/")) {
            return
        }
        // Files may have landed in it before its watch existed: watch, then scan.
        scanTree(path, watching: true, now: now)
    }

    private func handleFileEvent(_ key: String, _ event: InotifyEvent, settings: CollectionSettings, now: Int64) {
        if event.has(IN_DELETE) || event.has(IN_MOVED_FROM) {
            candidates[key] = nil
            stored[key] = nil
            return
        }
        var candidate = candidates[key] ?? Candidate(lastChange: now)
        if event.has(IN_CREATE) {
            guard case .success(let st?) = lstatus(absolutePath(key)) else { return }
            guard st.st_mode & S_IFMT == S_IFREG else {
                noticeSkip(key, "it is not a regular file")
                return
            }
            if st.st_nlink > 1 {
                // link(2): a complete file that no writer holds, which no close will announce.
                guard startQuietPeriod(key, &candidate, now: now) else { return }
            } else {
                // open(O_CREAT): the creator holds it open for writing until IN_CLOSE_WRITE.
                candidate.open = true
                candidate.lastChange = now
                candidate.quietUntil = nil
                candidate.snapshot = FileIdentity(st)
            }
        } else if event.has(IN_MODIFY) {
            candidate.open = true
            candidate.lastChange = now
            candidate.quietUntil = nil
        } else if event.has(IN_CLOSE_WRITE) || event.has(IN_MOVED_TO) {
            candidate.open = false
            candidate.lastChange = now
            // A failed file that someone closes or replaces may be takeable now (a writer that
            // held it open was the reason): after its quiet period, not after the backoff.
            candidate.retryAt = nil
            guard startQuietPeriod(key, &candidate, now: now) else {
                candidates[key] = nil
                return
            }
        } else if event.has(IN_ATTRIB) {
            // touch, chmod, or `cp -p` setting the mtime after its close: wait again. (A chmod
            // may also have cured a failure: retry after the quiet period.)
            guard !candidate.open else { return }
            candidate.retryAt = nil
            guard startQuietPeriod(key, &candidate, now: now) else {
                candidates[key] = nil
                return
            }
        } else {
            return
        }
        candidates[key] = candidate
    }

    // MARK: - The clock

    /// Moves every candidate on by the clock; returns the files ready now and the next time one falls due.
    private func collectReady(now: Int64) -> ([InboxFile], Int64?) {
        var ready: [InboxFile] = []
        var nextDue: Int64?
        // A linear pass: the pending set is what is in flight, small next to the inbox.
        for key in candidates.keys.sorted() {
            guard var candidate = candidates[key] else { continue }
            switch advance(key, &candidate, now: now) {
            case .wait(let until):
                candidates[key] = candidate
                if let until { nextDue = min(nextDue ?? until, until) }
            case .ready(let file):
                candidate.handedOut = true
                candidate.open = false
                candidate.quietUntil = nil
                candidates[key] = candidate
                ready.append(file)
            case .forget:
                candidates[key] = nil
            }
        }
        return (ready, nextDue)
    }

    /// What the clock does to one candidate: still waiting (until when), ready, or gone.
    func advance(_ key: String, _ candidate: inout Candidate, now: Int64) -> Step {
        if candidate.handedOut { return .wait(until: nil) }
        if let retryAt = candidate.retryAt {
            if now < retryAt { return .wait(until: retryAt) }
            candidate.retryAt = nil
            // Retry at once if it still looks as it did when it failed (checked below).
            if !candidate.open && candidate.quietUntil == nil { candidate.quietUntil = now }
        }
        if candidate.open {
            let expires = candidate.lastChange + openTimeout
            if now < expires { return .wait(until: expires) }
            // No close in `openTimeout` and no change: a writer whose close we never see (NFS).
            candidate.open = false
            candidate.quietUntil = now
        }
        guard let quietUntil = candidate.quietUntil else { return .wait(until: nil) }
        if now < quietUntil { return .wait(until: quietUntil) }

        let (collection, relativePath) = split(key)
        guard let settings = collections[collection]?.settings else { return .forget }
        let path = absolutePath(key)
        let st: stat
        switch lstatus(path) {
        case .success(nil):
            logger.debug("file vanished before it was taken", metadata: ["path": "\(path)"])
            return .forget
        case .success(let found?):
            st = found
        case .failure(let error):
            // Cannot even look at it (a folder's permissions): same backoff as a failed ingest.
            candidate.quietUntil = nil
            candidate.snapshot = nil
            recordStatFailure(key, &candidate, error: error, now: now)
            return .wait(until: candidate.retryAt)
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            noticeSkip(key, "it is not a regular file")
            return .forget
        }
        let identity = FileIdentity(st)
        guard candidate.snapshot == identity else {
            // It changed during the quiet period: start the period again.
            candidate.snapshot = identity
            candidate.lastChange = now
            // At least a little, so that a zero quiet period never spins on a busy file.
            candidate.quietUntil = now + max(settings.quietPeriod.nanosecondsValue, 10_000_000)
            return .wait(until: candidate.quietUntil)
        }
        if settings.mode == .mirror, let old = stored[key], old.sameContent(as: identity) {
            return .forget
        }
        let tags = relativePath.split(separator: "/").dropLast().map(String.init)
        return .ready(InboxFile(collection: collection, relativePath: relativePath, absolutePath: path,
                                size: identity.size, mtimeNanoseconds: identity.mtime,
                                device: identity.device, inode: identity.inode,
                                mode: settings.mode, tags: tags))
    }

    /// Begins a quiet period from the file as it is now; false when it is gone or not a regular file.
    func startQuietPeriod(_ key: String, _ candidate: inout Candidate, now: Int64) -> Bool {
        let (collection, _) = split(key)
        guard let settings = collections[collection]?.settings,
              case .success(let st?) = lstatus(absolutePath(key)) else { return false }
        guard st.st_mode & S_IFMT == S_IFREG else {
            noticeSkip(key, "it is not a regular file")
            return false
        }
        candidate.snapshot = FileIdentity(st)
        candidate.quietUntil = now + settings.quietPeriod.nanosecondsValue
        return true
    }

    private func recordStatFailure(_ key: String, _ candidate: inout Candidate, error: SystemError, now: Int64) {
        let initial = max(1, settings.retryInitial.nanosecondsValue)
        let maximum = max(initial, settings.retryMax.nanosecondsValue)
        candidate.retryDelay = candidate.retryDelay == 0 ? initial : min(candidate.retryDelay * 2, maximum)
        candidate.retryAt = now + candidate.retryDelay
        if candidate.failure == nil {
            logger.warning("cannot look at file; retrying", metadata: ["path": "\(absolutePath(key))", "error": "\(error)"])
        }
        candidate.failure = error.description
    }

    // MARK: - Helpers

    func absolutePath(_ key: String) -> String {
        key.isEmpty ? inboxPath : inboxPath + "/" + key
    }

    /// A key split into its collection and the path inside it.
    func split(_ key: String) -> (String, String) {
        guard let slash = key.firstIndex(of: "/") else { return (key, "") }
        return (String(key[..<slash]), String(key[key.index(after: slash)...]))
    }

    /// Warns once about a file at the top of inbox/ (not a dotfile or other litter the global
    /// ignore list names): it belongs to no collection.
    func noticeOutsideCollections(_ name: String) {
        guard name != RootLayout.inboxGuide, !IgnoreRules(settings.ignore).ignores(name: name),
              skipNoticed.insert(name).inserted else { return }
        logger.warning("a file at the top of inbox/ belongs to no collection and is not taken; move it into a collection's folder, e.g. inbox/documents/\(name)",
                       metadata: ["path": "\(absolutePath(name))"])
    }

    /// Logs once (at debug) that an entry is not taken, e.g. a FIFO, which opening would hang on.
    func noticeSkip(_ key: String, _ why: String) {
        if skipNoticed.insert(key).inserted {
            logger.debug("skipping inbox entry: \(why)", metadata: ["path": "\(absolutePath(key))"])
        }
    }

    private func sleepUntil(_ deadline: Int64) {
        let now = monotonicNanoseconds()
        guard deadline > now else { return }
        var request = timespec(tv_sec: Int((deadline - now) / 1_000_000_000), tv_nsec: Int((deadline - now) % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
