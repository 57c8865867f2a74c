import DepotStore

extension JobQueue {
    /// Deletes the jobs of versions purged from the trash, their dependencies and the versions'
    /// processing status, inside the purge's transaction. A job running then finds itself gone
    /// when it reports, and its result is dropped (`succeed` answers false).
    static func forgetJobs(ofVersions ids: [Int64], in tx: any CatalogTransaction) throws {
        let marks = ids.map { _ in "?" }.joined(separator: ",")
        let values = ids.map { SQLValue.integer($0) }
        try tx.execute("""
            DELETE FROM job_dependencies WHERE job_id IN (SELECT id FROM jobs WHERE version_id IN (\(marks)))
            OR waits_for IN (SELECT id FROM jobs WHERE version_id IN (\(marks)))
            """, values + values)
        try tx.execute("DELETE FROM jobs WHERE version_id IN (\(marks))", values)
        try tx.execute("DELETE FROM job_version_status WHERE version_id IN (\(marks))", values)
    }
}
