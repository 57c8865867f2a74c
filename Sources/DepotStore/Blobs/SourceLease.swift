import CLinux
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A read lease (fcntl F_SETLEASE) on a source file whose inode consume links into the store.
///
/// It is granted only while nobody has the file open for writing, so a writer still at work
/// is never linked. While it is held, anyone's open for writing waits, and the lease reads as
/// broken; `LocalBlobStore.settle` then gives the blob a copy of its own before letting go,
/// so the waiting writer writes into the inbox's inode, never into a stored blob.
final class SourceLease: Sendable {
    /// -1 once released.
    private let descriptor: Mutex<Int32>

    private init(descriptor: Int32) { self.descriptor = Mutex(descriptor) }

    deinit { release() }

    /// The kernel tells a lease holder about a breaking writer with SIGIO, whose default
    /// action ends the process; depot asks no other SIGIO, so it is ignored once for all.
    private static let ignoreBreakSignal: Void = { _ = signal(SIGIO, SIG_IGN) }()

    /// Takes a lease on the open file description behind `fd`.
    /// - Returns: nil where leases are not to be had (not the file's owner without CAP_LEASE,
    ///   a filesystem without leases): the caller copies instead of linking.
    /// - Throws: `BlobStoreError.openForWriting` when another process is writing the file.
    static func take(on fd: Int32, path: String) throws -> SourceLease? {
        _ = ignoreBreakSignal
        let own = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard own >= 0 else { return nil }
        if clinux_take_read_lease(own) == 0 { return SourceLease(descriptor: own) }
        let code = errno
        close(own)
        if code == EAGAIN { throw BlobStoreError.openForWriting(path) }
        return nil
    }

    /// Runs `body` with the descriptor while the lease is still held.
    func withDescriptor<T>(_ body: (Int32) throws -> T) rethrows -> T? {
        try descriptor.withLock { fd in fd >= 0 ? try body(fd) : nil }
    }

    /// False once a writer has asked to open the file (it is waiting for `release`).
    var isIntact: Bool { withDescriptor { clinux_read_lease_intact($0) != 0 } ?? false }

    /// Gives the lease up: a waiting writer goes ahead.
    func release() {
        descriptor.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }
}
