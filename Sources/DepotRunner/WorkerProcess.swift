import CLinux
import DepotCore
import DepotDetect
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One `depot worker` child: spawned with pipes on its stdin, stdout and stderr, talked to in
/// JSON lines, killed and reaped by its owner. Used by one runner thread only.
final class WorkerProcess {
    let pid: pid_t
    private var input: Int32
    let output: Int32
    let errors: Int32
    private var outputBuffer: [UInt8] = []
    private var outputClosed = false
    private var errorsClosed = false
    /// The last bytes the worker wrote on stderr (to tell an allocation failure from other crashes).
    private(set) var errorTail: [UInt8] = []
    private var reaped: Int32?
    let startedAt = monotonicNanoseconds()
    /// The largest address space seen while it ran (bytes; sampled).
    private(set) var peakAddressSpace: Int64 = 0
    private let onErrorLine: (String) -> Void
    private static let spawnLock = NSLock()

    /// Spawns `command` (the executable first) with `environment`.
    init(command: [String], environment: [String: String], onErrorLine: @escaping (String) -> Void) throws {
        self.onErrorLine = onErrorLine
        // Glibc's module lacks pipe2: pipes are made close-on-exec right after pipe(), and
        // spawns are serialised so that no other slot's worker inherits them in between.
        Self.spawnLock.lock()
        defer { Self.spawnLock.unlock() }
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0], errChild: [Int32] = [0, 0]
        for i in 0..<3 {
            var fds: [Int32] = [0, 0]
            try sysCall("pipe") { pipe(&fds) }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            if i == 0 { toChild = fds } else if i == 1 { fromChild = fds } else { errChild = fds }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the copies; every other descriptor of the daemon stays closed.
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errChild[1], 2)
        // Only stdin, stdout and stderr are the worker's: a descriptor opened without
        // close-on-exec (a listening socket, a catalog file) must not live on in a process
        // that parses untrusted files. Closed here, before exec: the worker itself cannot
        // tell them from the descriptors its runtime (libdispatch) has opened by then.
        let closing = clinux_spawn_close_from(&actions, 3)
        if closing != 0 { throw SystemError(call: "posix_spawn_file_actions_addclosefrom_np", errno: closing) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The daemon blocks or ignores signals for its own handling; a worker starts clean.
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2, SIGIO] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, command[0], &actions, &attributes, argv, envp)
        close(toChild[0])
        close(fromChild[1])
        close(errChild[1])
        guard rc == 0 else {
            close(toChild[1]); close(fromChild[0]); close(errChild[0])
            if rc == ENOENT { throw WorkerMissing(path: command[0]) }
            throw SystemError(call: "posix_spawn", errno: rc, path: command[0])
        }
        pid = child
        input = toChild[1]
        output = fromChild[0]
        errors = errChild[0]
    }

    deinit {
        if reaped == nil {
            Glibc.kill(pid, SIGKILL)
            _ = waitForExit()
        }
        if input >= 0 { close(input) }
        close(output)
        close(errors)
    }

    /// Sends one message line; false when the worker is gone (EPIPE).
    func send(_ request: WorkerRequest) -> Bool {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(request) else { return false }
        data.append(0x0A)
        return (try? data.withUnsafeBytes { try writeFully(input, $0) }) != nil
    }

    enum Event {
        case message(WorkerMessage)
        /// Its stdout closed: it exited or died.
        case closed
        /// Nothing before the deadline.
        case timeout
    }

    /// The next message, waiting at most until `deadline` (monotonic ns). Drains stderr meanwhile.
    func next(until deadline: Int64) -> Event {
        while true {
            if let line = takeLine() {
                if let message = try? JSONDecoder().decode(WorkerMessage.self, from: Data(line)) { return .message(message) }
                onErrorLine("unreadable message from worker: \(String(decoding: line.prefix(200), as: UTF8.self))")
                continue
            }
            if outputClosed { return .closed }
            sampleAddressSpace()
            let now = monotonicNanoseconds()
            if now >= deadline { return .timeout }
            var fds = [pollfd(fd: output, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: errorsClosed ? -1 : errors, events: Int16(POLLIN), revents: 0)]
            // Wake at least every 100 ms to sample the worker's address space.
            let wait = Int32(min(100, max(1, (deadline - now + 999_999) / 1_000_000)))
            let n = poll(&fds, 2, wait)
            if n < 0 && errno != EINTR { return .closed }
            if n <= 0 { continue }
            if fds[1].revents != 0 { drainErrors() }
            if fds[0].revents != 0 {
                var chunk = [UInt8](repeating: 0, count: 65536)
                let count = chunk.withUnsafeMutableBytes { raw in read(output, raw.baseAddress!, raw.count) }
                if count > 0 { outputBuffer += chunk[0..<count] } else if count == 0 || errno != EINTR { outputClosed = true }
            }
        }
    }

    private func takeLine() -> [UInt8]? {
        guard let newline = outputBuffer.firstIndex(of: 0x0A) else { return nil }
        let line = Array(outputBuffer[..<newline])
        outputBuffer.removeSubrange(...newline)
        return line
    }

    private func drainErrors() {
        var chunk = [UInt8](repeating: 0, count: 16384)
        let count = chunk.withUnsafeMutableBytes { raw in read(errors, raw.baseAddress!, raw.count) }
        guard count > 0 else {
            if count == 0 { errorsClosed = true }
            return
        }
        let bytes = chunk[0..<count]
        errorTail = Array((errorTail + bytes).suffix(4096))
        for line in bytes.split(separator: 0x0A) where !line.isEmpty {
            onErrorLine(String(decoding: line, as: UTF8.self))
        }
    }

    private func sampleAddressSpace() {
        // /proc/PID/statm: size in pages first.
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8),
              let pages = Int64(text.split(separator: " ").first ?? "") else { return }
        peakAddressSpace = max(peakAddressSpace, pages * Int64(sysconf(Int32(_SC_PAGESIZE))))
    }

    /// Starts a new measure of the peak address space (before each job: a long-lived worker's
    /// earlier jobs must not count against this one's limit).
    func resetPeak() { peakAddressSpace = 0 }

    /// The worker's resident memory now (VmRSS of /proc/PID/status), bytes; nil when unknown.
    func residentBytes() -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int64(line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") else { return nil }
        return kib * 1024
    }

    /// Kills the worker (SIGKILL) and reaps it.
    func kill() {
        if reaped == nil { Glibc.kill(pid, SIGKILL) }
        _ = waitForExit()
    }

    /// Closes its stdin (it exits at end of input) and reaps it, killing it after `grace`.
    func stop(grace: Int64 = 2_000_000_000) {
        if input >= 0 { close(input); input = -1 }
        let deadline = monotonicNanoseconds() + grace
        while reaped == nil && monotonicNanoseconds() < deadline {
            if tryReap() { return }
            usleep(5_000)
        }
        kill()
    }

    /// Reaps the worker, waiting for it; returns its wait status.
    func waitForExit() -> Int32 {
        if let reaped { return reaped }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        drainRemainingErrors()
        reaped = status
        return status
    }

    private func tryReap() -> Bool {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            reaped = status
            return true
        }
        return false
    }

    private func drainRemainingErrors() {
        let flags = fcntl(errors, F_GETFL)
        _ = fcntl(errors, F_SETFL, flags | O_NONBLOCK)
        while !errorsClosed {
            var probe = pollfd(fd: errors, events: Int16(POLLIN), revents: 0)
            guard poll(&probe, 1, 0) > 0 else { break }
            drainErrors()
        }
    }

    /// Why a worker that ended without a result ended, from its wait status.
    func describeExit(status: Int32, memoryLimit: Int64, cpuSeconds: Int) -> (reason: String, label: String) {
        let signal = status & 0x7F
        if signal == 0 {
            let code = (status >> 8) & 0xFF
            if code == 0 { return ("the worker exited without a result", "exit") }
            return ("the worker exited with status \(code)", "exit")
        }
        let tail = String(decoding: errorTail, as: UTF8.self)
        let allocationFailed = tail.contains("Could not allocate memory") || tail.contains("bad_alloc")
            || tail.contains("out of memory") || tail.contains("Cannot allocate memory")
        let nearLimit = memoryLimit > 0 && peakAddressSpace >= memoryLimit - memoryLimit / 10
        if signal == SIGXCPU { return ("CPU time limit exceeded (\(cpuSeconds)s)", "cpu_limit") }
        if allocationFailed || (nearLimit && [SIGABRT, SIGSEGV, SIGKILL, SIGTRAP, SIGILL, SIGBUS].contains(signal)) {
            return ("out of memory (address-space limit \(describeBytes(memoryLimit)))", "out_of_memory")
        }
        let name = signalName(signal)
        return ("killed by \(name)", name)
    }
}

/// "SIGSEGV" for 11.
func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
                                  SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV",
                                  SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ",
                                  SIGSYS: "SIGSYS", SIGUSR1: "SIGUSR1", SIGUSR2: "SIGUSR2"]
    return names[signal] ?? "signal \(signal)"
}

/// The processors' executable is not where it should be: a `depot` copied or installed
/// without the `depot-worker` that belongs beside it.
public struct WorkerMissing: Error, CustomStringConvertible {
    public let path: String
    public var description: String {
        "\(path) is missing: depot runs its processors in depot-worker, which belongs beside the depot executable "
            + "(install both with `make install` or the package, or build both products)"
    }
}
