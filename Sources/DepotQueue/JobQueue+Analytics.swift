import DepotCore
import DepotStore

extension JobQueue {
    // MARK: - What the analytics and `depot status` read

    /// When the oldest job still waiting to run (queued or retrying) was queued; nil when none waits.
    public func oldestWaitingNanoseconds() throws -> Int64? {
        try database.read { tx in
            try tx.query("SELECT min(created_at_ns) FROM jobs WHERE state IN ('queued','retrying')").first?.optionalInt(0)
        }
    }

    /// The jobs that failed most recently (failed, dead, or retrying after a failure), newest first.
    public func recentFailures(limit: Int) throws -> [Job] {
        try database.read { tx in
            try load(try tx.query("""
                SELECT \(Self.columns) FROM jobs WHERE last_error IS NOT NULL AND state IN ('failed','dead','retrying')
                ORDER BY updated_at_ns DESC LIMIT ?
                """, [.integer(Int64(limit))]), in: tx)
        }
    }

    /// The jobs running now, oldest lease first.
    public func running() throws -> [Job] {
        try database.read { tx in
            try load(try tx.query("SELECT \(Self.columns) FROM jobs WHERE state = 'running' ORDER BY started_at_ns"), in: tx)
        }
    }
}
