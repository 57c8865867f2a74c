import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A throw-away PostgreSQL server for the tests: Debian's `initdb` and `pg_ctl` make a cluster
/// in a temp folder, run by an unprivileged user (PostgreSQL refuses to run as root), on a
/// free port and a unix socket in that folder. The shared one is started once per test
/// process, on first use; a private one (`makePrivate()`) belongs to one test, which may kill
/// its server and start it again. Both are stopped and removed when the process exits.
public final class PostgresCluster: Sendable {
    /// The folder holding the data, the socket and the server's log.
    public let directory: String
    public let port: Int
    let bin: String
    /// The server's options (`postgres …`; `pg_ctl -o` takes them joined).
    let options: [String]
    /// Whether it is a private cluster, whose postmaster is a child of this process; the
    /// shared one is started and stopped by `pg_ctl`.
    private let owned: Bool
    /// A private cluster's postmaster (0 while it is down).
    private let postmaster = Mutex<pid_t>(0)

    /// The cluster of this test process, started on first use.
    /// - Throws: `TestFailure` saying how to install PostgreSQL when it is not installed.
    public static func shared() throws -> PostgresCluster {
        try started.withLock { state in
            if let cluster = state.cluster { return cluster }
            if let failure = state.failure { throw TestFailure(failure) }
            do {
                let cluster = try PostgresCluster(owned: false)
                state.cluster = cluster
                registerForExit(cluster)
                return cluster
            } catch {
                state.failure = "\(error)"
                throw error
            }
        }
    }

    /// A cluster of the caller's own, started, for a test that kills its server (`kill()`) and
    /// starts it again (`start()`) without disturbing the tests that share `shared()`.
    /// Commits are synchronous: what the server acknowledged survives a kill -9 of it (fsync
    /// stays off, since the kernel keeps what was written when only the processes die).
    public static func makePrivate() throws -> PostgresCluster {
        let cluster = try PostgresCluster(owned: true)
        registerForExit(cluster)
        return cluster
    }

    private static let started = Mutex<(cluster: PostgresCluster?, failure: String?)>((nil, nil))
    private static let databases = Atomic<Int>(0)
    /// Every cluster this process started, stopped at its exit.
    private static let all = Mutex<(clusters: [PostgresCluster], registered: Bool)>(([], false))

    private static func registerForExit(_ cluster: PostgresCluster) {
        all.withLock { state in
            state.clusters.append(cluster)
            if !state.registered { atexit { PostgresCluster.stopAtExit() } }
            state.registered = true
        }
    }

    private init(owned: Bool) throws {
        guard let bin = Self.binaries() else {
            throw TestFailure("PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin): "
                              + "`make test-deps` installs Debian's postgresql, which the catalog contract suites need")
        }
        self.bin = bin
        var template = Array("/tmp/depot-pg-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        port = freePort()
        // fsync off: the cluster is thrown away, so a crash losing it costs nothing. A private
        // cluster keeps synchronous commits, so that its kill -9 loses nothing acknowledged.
        options = ["-p", "\(port)", "-k", directory, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                   "-c", "synchronous_commit=\(owned ? "on" : "off")", "-c", "full_page_writes=off", "-c", "max_connections=300"]
        self.owned = owned
        // As root, the cluster belongs to `nobody`; otherwise to whoever runs the tests.
        if getuid() == 0 { chown(directory, 65534, 65534) }
        try run(bin + "/initdb", ["-D", directory + "/data", "-U", "depot", "--auth=trust", "-E", "UTF8",
                                  "--locale=C", "--no-sync"])
        if owned {
            try start()
        } else {
            try run(bin + "/pg_ctl", ["-D", directory + "/data", "-l", directory + "/server.log", "-o", options.joined(separator: " "),
                                      "-w", "-t", "60", "start"])
        }
    }

    /// Starts a private cluster's server (again, after `kill()`) on its port and data folder,
    /// and waits until it takes connections (after its crash recovery).
    ///
    /// The postmaster is spawned by this process, not by `pg_ctl`, so that this process can
    /// reap it after a kill -9: an unreaped one stays a zombie (a container's init may never
    /// reap orphans), which looks alive to the next postmaster's check of `postmaster.pid`.
    public func start() throws {
        guard owned else { throw TestFailure("the shared PostgreSQL cluster is not started or killed by a test") }
        try postmaster.withLock { pid in
            guard pid == 0 else { return }
            // As root, the server runs as `nobody`; setpriv execs it (no process in between).
            let argv = (getuid() == 0 ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] : [])
                + [bin + "/postgres", "-D", directory + "/data"] + options
            pid = try spawn(argv, output: directory + "/server.log", append: true)
        }
        let deadline = Date().addingTimeInterval(60)
        while (try? run(bin + "/pg_isready", ["-q", "-h", directory, "-p", "\(port)"])) == nil {
            let exited = postmaster.withLock { pid -> Bool in
                var status: Int32 = 0
                guard pid != 0, waitpid(pid, &status, WNOHANG) == pid else { return false }
                pid = 0
                return true
            }
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            if exited { throw TestFailure("PostgreSQL did not start: \(log.suffix(2000))") }
            guard Date() < deadline else { throw TestFailure("PostgreSQL did not take connections within 60 s: \(log.suffix(2000))") }
            usleep(50_000)
        }
    }

    /// kill -9 of a private cluster's server: the postmaster and every backend at once, as
    /// when its machine dies; returns once they are gone. `start()` brings it back.
    public func kill() throws {
        guard owned else { throw TestFailure("the shared PostgreSQL cluster is not started or killed by a test") }
        postmaster.withLock { pid in
            guard pid != 0 else { return }
            let backends = Self.children(of: pid)
            Glibc.kill(pid, SIGKILL)
            for child in backends { Glibc.kill(child, SIGKILL) }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            pid = 0
            // The backends, orphans now, are reaped by whoever inherits them; a zombie is gone enough.
            _ = waitUntil(seconds: 10) { backends.allSatisfy { Self.processState($0).map { $0 == "Z" } ?? true } }
        }
    }

    /// The processes whose parent is `parent` (from /proc).
    private static func children(of parent: pid_t) -> [pid_t] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }
        return pids.filter { pid in
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = text.lastIndex(of: ")") else { return false }
            let fields = text[text.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == parent
        }
    }

    /// A process's state letter (R, S, Z…), nil when there is no such process.
    private static func processState(_ pid: pid_t) -> Character? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ").first?.first
    }

    /// The newest PostgreSQL's bin folder in Debian's layout.
    private static func binaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        return versions.map { "\(root)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }

    /// Runs a PostgreSQL program as the cluster's owner; throws with its output when it fails.
    ///
    /// posix_spawn, not Foundation's Process: Process learns that its child ended from a
    /// descriptor the child inherits, and the server that `pg_ctl start` leaves running
    /// would inherit it too, so that Process would wait for the server's end. Here the child
    /// gets only stdin (/dev/null) and stdout/stderr (a file).
    func run(_ program: String, _ arguments: [String]) throws {
        let argv = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "nobody", "--", program] + arguments : [program] + arguments
        let outputPath = directory + "/\((program as NSString).lastPathComponent).out"
        let pid = try spawn(argv, output: outputPath, append: false)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED and WEXITSTATUS are macros: exited normally when the signal bits are 0.
        guard status & 0x7f == 0 && (status >> 8) & 0xff == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            throw TestFailure("\((program as NSString).lastPathComponent) failed (status \(status)): \(text)\(log)")
        }
    }

    /// Spawns `argv` with stdin /dev/null and stdout and stderr into `output`; returns its pid.
    private func spawn(_ argv: [String], output: String, append: Bool) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        addCloseFrom(&actions, 3)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard rc == 0 else { throw TestFailure("cannot run \(argv[0]): errno \(rc)") }
        return pid
    }

    /// The connection string for `database` on this cluster, over its unix socket.
    public func url(database: String) -> String {
        "host=\(directory) port=\(port) user=depot dbname=\(database)"
    }

    /// The same database over TCP on 127.0.0.1, as a `postgres://` URL (what a config holds).
    public func tcpURL(database: String) -> String {
        "postgres://depot@127.0.0.1:\(port)/\(database)"
    }

    /// A new empty database on the cluster; returns its name.
    public func createDatabase() throws -> String {
        let name = "depot_\(getpid())_\(Self.databases.add(1, ordering: .relaxed).newValue)"
        // CREATE DATABASE cannot run in a transaction, which is all PostgresDatabase opens.
        try run(bin + "/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url(database: "postgres"), "-c", "CREATE DATABASE \(name)"])
        return name
    }

    /// Stops the server at once (the data is thrown away) and removes its folder.
    public func stop() {
        if owned {
            try? kill()
        } else {
            try? run(bin + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func stopAtExit() {
        for cluster in all.withLock({ $0.clusters }) { cluster.stop() }
    }
}

/// glibc's posix_spawn_file_actions_addclosefrom_np (2.34), which Glibc's module leaves out
/// (it is declared under _GNU_SOURCE only).
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func addCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32
