import DepotCore
import DepotGenerate
#if canImport(Glibc)
import Glibc
#endif

/// Whether a processor's error may pass on a retry. The one place that decides it: the worker
/// reports the answer with the job's result (`WorkerMessage.transient`), and the queue retries
/// a transient failure and records a permanent one at once.
public enum ProcessorFailure {
    /// The errno values of a failed system call that say something about the machine at that
    /// moment, not about the file: I/O errors, a full disk or quota, memory or descriptors
    /// running out, a call interrupted or timed out, an NFS handle gone stale.
    public static let transientErrnos: Set<Int32> = [EIO, ENOSPC, EDQUOT, ENOMEM, EMFILE, ENFILE, EAGAIN, EINTR, ESTALE, ETIMEDOUT]

    /// True for a `SystemError` whose errno is in `transientErrnos` and for the test
    /// processor's FAIL-TRANSIENT; false for everything else: a `DocumentError` (the file is
    /// what it is: the same bytes fail the same way), a parse error, a refused file (too large:
    /// EFBIG), an unknown processor.
    public static func isTransient(_ error: Error) -> Bool {
        if let system = error as? SystemError { return transientErrnos.contains(system.errno) }
        if let test = error as? TestProcessor.Failure { return test.transient }
        if let generation = error as? GenerationFailure { return (generation.underlying as? ChatError)?.isTransient ?? false }
        if error is SpeechUnavailable { return true }
        return false
    }
}
