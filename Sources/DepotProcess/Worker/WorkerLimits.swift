import DepotCore
#if canImport(Glibc)
import Glibc
#endif

/// Resource limits of a worker process: some set once when it starts, the memory and CPU
/// limits armed again for every job with what the job's request asks.
///
/// Memory is RLIMIT_AS in two parts. The hard limit, `addressSpaceBytes`, is set once at the
/// start and never raised (an unprivileged process cannot raise it again). Each job gets the
/// soft limit its request names (`memory_limit`, at most the hard one), which any process may
/// move up and down below the hard one; after the job it goes back to the hard one.
public struct WorkerLimits: Sendable, Equatable {
    /// The hard RLIMIT_AS, bytes: the most address space any job of this worker gets (0: none).
    public var addressSpaceBytes: Int64 = 0
    /// CPU seconds per job when the request names none (RLIMIT_CPU, re-armed before each job; 0: unlimited).
    public var cpuSecondsPerJob: Int = 0
    /// RLIMIT_NOFILE.
    public var openFiles: Int = 256
    /// Added niceness (setpriority), so that processing yields to ingest and HTTP.
    public var nice: Int = 10

    public init(addressSpaceBytes: Int64 = 0, cpuSecondsPerJob: Int = 0, openFiles: Int = 256, nice: Int = 10) {
        self.addressSpaceBytes = addressSpaceBytes
        self.cpuSecondsPerJob = cpuSecondsPerJob
        self.openFiles = openFiles
        self.nice = nice
    }

    /// Applies the worker-wide limits to this process, once, before it takes any job.
    public func apply() throws {
        // No core dumps: writing one for a worker near its memory limit would take long and fill the disk.
        try setLimit(RLIMIT_CORE, soft: 0, hard: 0)
        if openFiles > 0 { try setLimit(RLIMIT_NOFILE, soft: rlim_t(openFiles), hard: rlim_t(openFiles)) }
        if addressSpaceBytes > 0 {
            try setLimit(RLIMIT_AS, soft: rlim_t(addressSpaceBytes), hard: rlim_t(addressSpaceBytes))
        }
        if nice != 0 {
            errno = 0
            try sysCall("setpriority") { setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Int32(nice)) }
        }
    }

    /// Arms the limits of one job: the soft RLIMIT_AS at `memoryLimit` bytes (0: the hard
    /// limit) and RLIMIT_CPU at `cpuSeconds` more seconds than this process has used (0:
    /// `cpuSecondsPerJob`; both 0: none). Past the CPU limit the kernel sends SIGXCPU, which
    /// ends the worker; past the memory limit allocations fail, which ends the job (C
    /// libraries and Swift's allocator abort on a failed malloc).
    ///
    /// Lowering the soft RLIMIT_AS below what the process already has mapped is allowed: Linux
    /// checks the limit only when a mapping is added or grows (mmap, brk, mremap), and never
    /// takes away what is mapped, so the worker does not die of the lower limit itself. What
    /// the previous job left mapped (malloc keeps freed memory in its arenas) counts against
    /// this job: at worst the job fails early, as if it had used that memory itself. And since
    /// only the soft limit moves, the next job can have more again. `disarm()` restores the
    /// hard limit after every job, so the result can always be written.
    public func arm(memoryLimit: Int64, cpuSeconds: Int) throws {
        var memory = try getLimit(RLIMIT_AS)
        memory.rlim_cur = Self.softAddressSpace(memoryLimit: memoryLimit, hard: memory.rlim_max)
        try setLimit(RLIMIT_AS, memory)

        var usage = rusage()
        try sysCall("getrusage") { getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) }
        let used = Int(usage.ru_utime.tv_sec) + Int(usage.ru_stime.tv_sec)
        var cpu = try getLimit(RLIMIT_CPU)
        cpu.rlim_cur = Self.softCPU(seconds: cpuSeconds > 0 ? cpuSeconds : cpuSecondsPerJob, used: used, hard: cpu.rlim_max)
        try setLimit(RLIMIT_CPU, cpu)
    }

    /// Puts the soft limits back at the hard ones after a job, before its result is written.
    public func disarm() throws {
        for resource in [RLIMIT_AS, RLIMIT_CPU] {
            var limit = try getLimit(resource)
            limit.rlim_cur = limit.rlim_max
            try setLimit(resource, limit)
        }
    }

    /// The soft RLIMIT_AS for a job that asks for `memoryLimit` bytes (0: as much as the hard
    /// limit allows) under the hard limit `hard`.
    static func softAddressSpace(memoryLimit: Int64, hard: rlim_t) -> rlim_t {
        memoryLimit > 0 ? min(rlim_t(memoryLimit), hard) : hard
    }

    /// The soft RLIMIT_CPU that leaves a job `seconds` more CPU seconds after the `used` ones
    /// (rounded up by one, as the kernel counts whole seconds), or none (the hard limit) for 0.
    static func softCPU(seconds: Int, used: Int, hard: rlim_t) -> rlim_t {
        seconds > 0 ? min(rlim_t(used + 1 + seconds), hard) : hard
    }

    private func getLimit(_ resource: __rlimit_resource) throws -> rlimit {
        var current = rlimit()
        try sysCall("getrlimit") { getrlimit(__rlimit_resource_t(resource.rawValue), &current) }
        return current
    }

    private func setLimit(_ resource: __rlimit_resource, _ limit: rlimit) throws {
        var limit = limit
        try sysCall("setrlimit") { setrlimit(__rlimit_resource_t(resource.rawValue), &limit) }
    }

    /// Sets both limits, staying within the hard limit the process has (an unprivileged process
    /// cannot raise it).
    private func setLimit(_ resource: __rlimit_resource, soft: rlim_t, hard: rlim_t) throws {
        let current = try getLimit(resource)
        try setLimit(resource, rlimit(rlim_cur: min(soft, current.rlim_max), rlim_max: min(hard, current.rlim_max)))
    }
}
