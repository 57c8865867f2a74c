import DepotCore
import DepotTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to completion on a thread of its own: the package test spends a minute in
/// dpkg and make-deb.sh, and holding one of the few threads of the Swift concurrency pool that
/// long starves the timing-sensitive tests running beside it (ConnectionTests).
@discardableResult
func runProgram(_ path: String, _ arguments: [String], environment: [String: String]? = nil) async throws -> RunResult {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try runBlocking(path, arguments, environment: environment) })
        }
    }
}

/// Runs a program that must succeed; its stdout.
@discardableResult
func mustRun(_ path: String, _ arguments: [String]) async throws -> String {
    let result = try await runProgram(path, arguments)
    guard result.status == 0 else {
        throw TestFailure("\(path) \(arguments.joined(separator: " ")) exited \(result.status): \(result.output)")
    }
    return result.stdout
}

/// Polls `condition` every 50 ms, sleeping without holding a thread, until it holds or
/// `seconds` pass; true if it held.
func pollUntil(seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// What this machine has of depot before the package test touches it.
enum Machine {
    static var isRoot: Bool { getuid() == 0 }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static var depotPackageInstalled: Bool {
        let result = try? runBlocking("/usr/bin/dpkg-query", ["-W", "-f=${db:Status-Status}", "depot"])
        return result.map { $0.status == 0 && $0.stdout != "not-installed" } ?? false
    }

    static func userExists(_ name: String) -> Bool { getpwnam(name) != nil }
    static func groupExists(_ name: String) -> Bool { getgrnam(name) != nil }
}

/// `stat` of a path: its mode bits (with setgid) and owner.
func ownerAndMode(_ path: String) throws -> (user: String, group: String, mode: mode_t) {
    var st = stat()
    guard stat(path, &st) == 0 else { throw TestFailure("stat \(path): errno \(errno)") }
    let user = getpwuid(st.st_uid).map { String(cString: $0.pointee.pw_name) } ?? "\(st.st_uid)"
    let group = getgrgid(st.st_gid).map { String(cString: $0.pointee.gr_name) } ?? "\(st.st_gid)"
    return (user, group, st.st_mode & 0o7777)
}

/// The package and the install as an admin meets them: `depot init --config` (what the
/// package's postinst runs), then the Debian package itself, installed on this machine.
@Suite(.serialized, .tags(.slow), .slowTest) struct PackageTests {
    @Test func initFromAConfigFileLaysOutItsRootAndWritesNoCopyOfTheConfig() throws {
        let dir = TemporaryDirectory()
        try makeDirectories(dir.path + "/secrets")
        let config = try dir.write("depot.toml", """
            root = "\(dir.path)/root"
            [http]
            keys_file = "\(dir.path)/secrets/link-keys"
            """)
        // Under an admin's usual umask (022), which would take the group's write bit off new folders.
        let result = try depot(["init", "--config", config], prefix: ["/bin/sh", "-c", "umask 022 && exec \"$@\"", "sh"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("depot serve --config \(config)"), "\(result.stdout)")
        let layout = RootLayout(root: dir.path + "/root")
        #expect(Machine.exists(layout.catalog))
        #expect(Machine.exists(layout.inbox + "/README.md"))
        // The example collections are group-writable like the inbox, whatever the umask.
        for collection in ["documents", "share"] {
            #expect(try ownerAndMode(layout.inbox + "/" + collection).mode == 0o2775, "inbox/\(collection)")
        }
        // The root is run with the given file: a second config in the root would only disagree with it.
        #expect(!Machine.exists(layout.configFile))
        // The keys go where the config says, private.
        #expect(try ownerAndMode(dir.path + "/secrets/link-keys").mode == 0o600)
        #expect(!Machine.exists(layout.state + "/link-keys"))
        let check = try depot(["config", "check", "--config", config])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")

        // Again: nothing is replaced (the keys would void every link handed out).
        let keys = try readTextFile(dir.path + "/secrets/link-keys")
        #expect(try depot(["init", "--config", config]).status == 0)
        #expect(try readTextFile(dir.path + "/secrets/link-keys") == keys)

        let neither = try depot(["init"])
        #expect(neither.status == 64, "\(neither.stderr)")
        let missing = try depot(["init", "--config", dir.path + "/nothing.toml"])
        #expect(missing.status == 66, "\(missing.stderr)")
    }

    /// scripts/make-deb.sh on the test build (or the .deb in $DEPOT_DEB, e.g. `make deb`'s), then
    /// `dpkg -i`; every installed part is checked where an admin would use it, the unit's
    /// ExecStart= is started (by systemd when it runs here, else as the unit's User= by hand),
    /// a dropped file is stored, and `dpkg -r` / `dpkg -P` remove the package but not the data.
    @Test(.enabled(if: Machine.isRoot, "needs root: installs a package, creates the depot user and /srv/depot"),
          .enabled(if: !Machine.depotPackageInstalled, "a depot package is installed on this machine; the test would replace it"),
          .enabled(if: !Machine.exists("/srv/depot"), "/srv/depot exists; the test would mix its files with that data"),
          .enabled(if: !Machine.exists("/etc/depot"), "/etc/depot exists; the test would take over its depot.toml"),
          .timeLimit(.minutes(10)))
    func debianPackageInstallsStartsStoresAndRemovesCleanly() async throws {
        let machine = MachineRestorer()
        do {
            try await installStartStoreAndRemove(machine)
        } catch {
            await machine.restore()
            throw error
        }
        await machine.restore()
    }

    private func installStartStoreAndRemove(_ machine: MachineRestorer) async throws {
        // The package: the one given, else the test build packaged by the same script as `make deb`.
        let work = TemporaryDirectory()
        let deb: String
        if let given = ProcessInfo.processInfo.environment["DEPOT_DEB"], !given.isEmpty {
            deb = given
        } else {
            // Uncompressed (dpkg-deb -Znone): the same package, without half a minute of xz
            // competing with the other tests for the CPU.
            let built = try await mustRun("/usr/bin/env", ["DEB_COMPRESSION=none", repositoryRoot + "/scripts/make-deb.sh",
                                                         "--allow-unpackaged-libs", depotBinary, work.path + "/dist"])
            deb = try #require(built.split(separator: "\n").last.map(String.init))
        }
        let version = try await mustRun(depotBinary, ["--version"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let fields = try await mustRun("/usr/bin/dpkg-deb", ["-f", deb, "Package", "Version", "Depends"])
        #expect(fields.contains("Package: depot") && fields.contains("Version: \(version)"), "\(fields)")
        // Depends names the libraries the binary links, and what the maintainer scripts run.
        for dependency in ["libsqlite3-0", "libpoppler-glib8", "libssl3", "libcurl4", "libzip4", "libxml2",
                           "libavformat59", "libavcodec59", "libswscale6", "libswresample4",
                           "systemd | systemd-standalone-sysusers"] {
            #expect(fields.contains(dependency), "Depends lacks \(dependency): \(fields)")
        }

        let install = try await runProgram("/usr/bin/dpkg", ["-i", deb])
        try #require(install.status == 0, "dpkg -i: \(install.output)")

        // The binary, and the files it finds beside it.
        #expect(try await mustRun("/usr/bin/depot", ["--version"]).trimmingCharacters(in: .whitespacesAndNewlines) == version)
        let files = try await mustRun("/usr/bin/dpkg", ["-L", "depot"])
        for path in ["/usr/bin/depot", "/usr/bin/depot-worker", "/lib/systemd/system/depot.service", "/usr/lib/sysusers.d/depot.conf",
                     "/usr/lib/tmpfiles.d/depot.conf", "/etc/depot/depot.toml", "/usr/share/depot/config/depot.toml",
                     "/usr/share/depot/inbox-layout/README.md", "/usr/share/doc/depot/README.md",
                     "/usr/share/doc/depot/systemd.md", "/usr/share/doc/depot/copyright", "/usr/share/man/man1/depot.1.gz",
                     "/usr/share/bash-completion/completions/depot", "/usr/share/zsh/vendor-completions/_depot",
                     "/usr/share/fish/vendor_completions.d/depot.fish"] {
            #expect(files.split(separator: "\n").contains(Substring(path)), "the package lacks \(path)")
            #expect(Machine.exists(path), "\(path) is not installed")
        }

        // The man page, found by man and generated from the parser: every command is in it.
        #expect(try await mustRun("/usr/bin/man", ["--where", "depot"]).hasPrefix("/usr/share/man/man1/depot.1"))
        let page = try await runProgram("/usr/bin/man", ["-l", "/usr/share/man/man1/depot.1.gz"],
                                  environment: ["PATH": "/usr/bin:/bin", "MANWIDTH": "100", "MANPAGER": "cat", "LANG": "C"])
        #expect(page.status == 0, "\(page.stderr)")
        let text = page.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ")
        for command in ["init", "serve", "ingest", "verify", "outbox", "jobs", "link", "token", "--config"] {
            #expect(text.contains(command), "man depot does not mention \(command)")
        }
        // The parser's own help texts, word for word: an option's, and the root command's discussion.
        #expect(text.contains("Listen here instead of http.listen and http.port"), "serve --listen's help is not in man depot")
        #expect(text.contains("sudo -u depot depot ls"), "man depot does not say who runs the commands: \(text.prefix(1500))")

        // bash completion as bash-completion loads it: `depot se<TAB>` and `depot jobs re<TAB>`.
        let completion = try await runProgram("/bin/bash", ["-c", """
            shopt -s extglob
            source /usr/share/bash-completion/completions/depot
            complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
                               COMPREPLY=(); _depot depot "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"; echo "${COMPREPLY[*]}"; }
            complete_words depot se
            complete_words depot jobs re
            """])
        #expect(completion.stdout == "serve\nretry\n", "\(completion.output)")

        // The config: the documented default, a conffile, and valid.
        #expect(try readTextFile("/etc/depot/depot.toml") == readTextFile(repositoryRoot + "/config/depot.toml"))
        let conffiles = try await mustRun("/usr/bin/dpkg-query", ["-W", "-f=${Conffiles}", "depot"])
        #expect(conffiles.contains("/etc/depot/depot.toml"))
        // The generation prompt templates, where the daemon reads them (prompts/ beside its
        // config), editable and kept on upgrade as the config is.
        for template in ["summary", "chapters", "quiz", "keywords", "reduce"] {
            #expect(try readTextFile("/etc/depot/prompts/\(template).md") == readTextFile(repositoryRoot + "/config/prompts/\(template).md"))
            #expect(conffiles.contains("/etc/depot/prompts/\(template).md"), "\(conffiles)")
            #expect(Machine.exists("/usr/share/depot/config/prompts/\(template).md"))
        }
        let check = try await runProgram("/usr/bin/depot", ["config", "check", "--config", "/etc/depot/depot.toml"])
        #expect(check.status == 0, "\(check.output)")

        // The user and group from sysusers.d, the root from tmpfiles.d with its modes, and
        // `depot init` run by the postinst as depot.
        let account = try #require(getpwnam("depot"), "no user depot")
        #expect(String(cString: account.pointee.pw_dir) == "/srv/depot")
        #expect(String(cString: account.pointee.pw_shell) == "/usr/sbin/nologin")
        #expect(Machine.groupExists("depot"))
        for (path, mode) in [("/srv/depot", 0o750), ("/srv/depot/inbox", 0o2775), ("/srv/depot/outbox", 0o2750),
                             ("/srv/depot/store", 0o750), ("/srv/depot/state", 0o750)] as [(String, mode_t)] {
            let found = try ownerAndMode(path)
            #expect(found.user == "depot" && found.group == "depot" && found.mode == mode,
                    "\(path): \(found.user):\(found.group) \(String(found.mode, radix: 8)), expected depot:depot \(String(mode, radix: 8))")
        }
        let keys = try ownerAndMode("/srv/depot/state/link-keys")
        #expect(keys.user == "depot" && keys.mode == 0o600)
        let catalog = try ownerAndMode("/srv/depot/state/catalog.sqlite3")
        #expect(catalog.user == "depot" && catalog.mode == 0o640, "made with the unit's UMask=0027: \(String(catalog.mode, radix: 8))")
        #expect(Machine.exists("/srv/depot/inbox/README.md"))
        for collection in ["documents", "share"] {
            let found = try ownerAndMode("/srv/depot/inbox/" + collection)
            #expect(found.user == "depot" && found.group == "depot" && found.mode == 0o2775,
                    "inbox/\(collection): \(String(found.mode, radix: 8))")
        }
        #expect(!Machine.exists("/srv/depot/depot.toml"), "init wrote a second config into the root")

        // The unit: paths rewritten to the installed ones, enabled, and valid for systemd (the
        // binary exists, `man depot` resolves), sandbox rated as in the repository.
        let unitPath = "/lib/systemd/system/depot.service"
        let unit = try readTextFile(unitPath)
        func setting(_ key: String) -> String? {
            unit.split(separator: "\n").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
        }
        let execStart = try #require(setting("ExecStart"))
        #expect(execStart == "/usr/bin/depot serve --config /etc/depot/depot.toml")
        #expect(setting("Documentation") == "man:depot(1) file:///usr/share/doc/depot/systemd.md file:///usr/share/doc/depot/README.md")
        let wants = "/etc/systemd/system/multi-user.target.wants/depot.service"
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: wants)) == unitPath, "depot.service is not enabled")
        let verify = try await runProgram("/usr/bin/systemd-analyze", ["verify", unitPath])
        #expect(verify.status == 0 && !verify.output.contains("depot.service:"), "\(verify.output)")
        func exposure(_ path: String) async throws -> String? {
            try await mustRun("/usr/bin/systemd-analyze", ["security", "--offline=yes", path])
                .split(separator: "\n").first { $0.contains("Overall exposure level") }.map(String.init)
        }
        let installedExposure = try await exposure(unitPath)
        let repositoryExposure = try await exposure(repositoryRoot + "/systemd/depot.service")
        #expect(installedExposure != nil && installedExposure == repositoryExposure)

        // Start it as systemd would.
        let underSystemd = Machine.exists("/run/systemd/system")
        let notify = TemporaryDirectory()
        var daemonLog: Locked<String>?
        var socket: NotifySocket?
        if underSystemd {
            print("PackageTests: PID 1 is systemd; the postinst started depot.service")
            let active = await pollUntil(seconds: 60) {
                (try? await runProgram("/usr/bin/systemctl", ["is-active", "depot.service"]))?.stdout == "active\n"
            }
            let status = active ? "" : (try? await runProgram("/usr/bin/systemctl", ["status", "depot.service"]))?.output ?? ""
            #expect(active, "\(status)")
        } else {
            // No systemd here (a container): the unit's ExecStart= as its User=/Group= with its
            // UMask=, in a clean environment from /, with a notify socket standing in for
            // systemd's. (The sandbox settings need systemd itself; `security` rated them above.)
            print("PackageTests: PID 1 is not systemd; running the unit's ExecStart= as User=\(setting("User") ?? "?") with setpriv")
            let user = try #require(setting("User")), group = try #require(setting("Group"))
            let unitUmask = try #require(setting("UMask"))
            chmod(notify.path, 0o755)
            let notifySocket = try NotifySocket(directory: notify.path)
            chmod(notifySocket.path, 0o666)
            socket = notifySocket
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(user)", "--regid=\(group)", "--init-groups", "--",
                                 "/bin/sh", "-c", "umask \"$0\" && exec \"$@\"", unitUmask]
                + execStart.split(separator: " ").map(String.init)
            process.environment = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                                   "NOTIFY_SOCKET": notifySocket.path, "WATCHDOG_USEC": "30000000"]
            process.currentDirectoryURL = URL(fileURLWithPath: "/")
            let log = Locked("")
            let err = Pipe()
            process.standardError = err
            process.standardOutput = err
            err.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if !data.isEmpty { log.set(log.value + String(decoding: data, as: UTF8.self)) }
            }
            try process.run()
            machine.daemon = process
            daemonLog = log
            try #require(await pollUntil(seconds: 60) { notifySocket.received.contains { $0.contains("READY=1") } },
                         "no READY=1: \(log.value)")
        }

        // A person (group depot, a group-writable collection folder) drops a file; depot takes it.
        let collection = "pkgtest-\(getpid())"
        let folder = "/srv/depot/inbox/" + collection
        try makeDirectories(folder)
        chmod(folder, 0o2775)
        let bytes = Array("stored by the installed depot \(collection)\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: folder + "/.hello.txt.part"))
        chmod(folder + "/.hello.txt.part", 0o660)
        #expect(rename(folder + "/.hello.txt.part", folder + "/hello.txt") == 0)

        // The documented way to use the CLI on the installed root: as user depot.
        let asDepot: [String] = Machine.exists("/usr/bin/sudo") ? ["/usr/bin/sudo", "-u", "depot"] : ["/usr/sbin/runuser", "-u", "depot", "--"]
        var listing = ""
        let stored = await pollUntil(seconds: 60) {
            listing = (try? await runProgram(asDepot[0], Array(asDepot.dropFirst()) + ["depot", "ls"]))?.output ?? ""
            return listing.contains("\(collection)/hello.txt")
        }
        #expect(stored, "not stored: \(listing)\n\(daemonLog?.value ?? "")")
        #expect(await pollUntil(seconds: 10) { !Machine.exists(folder + "/hello.txt") }, "the file stayed in the inbox (consume)")
        let copy = try await runProgram(asDepot[0], Array(asDepot.dropFirst()) + ["depot", "get", "\(collection)/hello.txt"])
        #expect(copy.status == 0 && Array(copy.stdout.utf8) == bytes, "\(copy.output)")
        #expect(try ownerAndMode("/srv/depot/store/blobs").user == "depot")
        // …processed by a worker process and published into the outbox.
        let manifest = "/srv/depot/outbox/\(collection)/hello.txt/manifest.json"
        #expect(await pollUntil(seconds: 60) { Machine.exists(manifest) }, "nothing published: \(daemonLog?.value ?? "")")

        // Stop: under systemd the prerm does it (dpkg -r below); here SIGTERM, as systemctl stop sends.
        if let daemon = machine.daemon {
            kill(daemon.processIdentifier, SIGTERM)
            #expect(await pollUntil(seconds: 60) { !daemon.isRunning }, "depot did not stop: \(daemonLog?.value ?? "")")
            #expect(daemon.terminationReason == .exit && daemon.terminationStatus == 0, "\(daemonLog?.value ?? "")")
            #expect(socket?.received.contains { $0.contains("STOPPING=1") } == true)
        }

        // Removed: the program, the unit and the docs go; the config stays until a purge; the
        // data and the user always stay.
        let remove = try await runProgram("/usr/bin/dpkg", ["-r", "depot"])
        #expect(remove.status == 0, "dpkg -r: \(remove.output)")
        if underSystemd {
            let state = try? await runProgram("/usr/bin/systemctl", ["is-active", "depot.service"])
            #expect(state?.stdout != "active\n", "depot.service still runs after dpkg -r")
        }
        for path in ["/usr/bin/depot", "/usr/bin/depot-worker", unitPath, "/usr/share/man/man1/depot.1.gz", "/usr/share/doc/depot", "/usr/share/depot",
                     "/usr/lib/sysusers.d/depot.conf", "/usr/lib/tmpfiles.d/depot.conf"] {
            #expect(!Machine.exists(path), "\(path) is still there after dpkg -r")
        }
        #expect(Machine.exists("/etc/depot/depot.toml"))
        let purge = try await runProgram("/usr/bin/dpkg", ["--purge", "depot"])
        #expect(purge.status == 0, "dpkg --purge: \(purge.output)")
        #expect(!Machine.exists("/etc/depot/depot.toml"))
        #expect(!Machine.exists(wants), "the enablement symlink outlived the purge")
        #expect(Machine.exists("/srv/depot/state/catalog.sqlite3") && Machine.exists("/srv/depot/state/link-keys"))
        #expect(filesUnder("/srv/depot/store/blobs").count >= 1, "the stored blob went with the package")
        #expect(Machine.userExists("depot"))
    }
}

/// What the package test changed on the machine, undone: the daemon it started, the package,
/// /srv/depot and /etc/depot (the test runs only where neither existed), and the depot user and
/// group unless they were there before.
final class MachineRestorer: @unchecked Sendable {
    // Touched only by the test's own task.
    var daemon: Process?
    private let hadUser = Machine.userExists("depot"), hadGroup = Machine.groupExists("depot")

    func restore() async {
        if let daemon, daemon.isRunning {
            kill(daemon.processIdentifier, SIGKILL)
            _ = await pollUntil(seconds: 10) { !daemon.isRunning }
        }
        if Machine.depotPackageInstalled { _ = try? await runProgram("/usr/bin/dpkg", ["--purge", "depot"]) }
        try? FileManager.default.removeItem(atPath: "/srv/depot")
        try? FileManager.default.removeItem(atPath: "/etc/depot")
        if !hadUser && Machine.userExists("depot") { _ = try? await runProgram("/usr/sbin/userdel", ["depot"]) }
        if !hadGroup && Machine.groupExists("depot") { _ = try? await runProgram("/usr/sbin/groupdel", ["depot"]) }
    }
}
