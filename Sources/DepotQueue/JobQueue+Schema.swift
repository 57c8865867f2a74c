import DepotStore

extension JobQueue {
    /// The queue's tables: `jobs`, `job_dependencies` (which job waits for which) and
    /// `job_version_status` (each version's processing status, kept with every change of its
    /// jobs so that listings filter on it). Append only: a released migration is never edited.
    public static let migrations: [CatalogMigration] = [
        CatalogMigration(name: "jobs-1", sqlite: """
            CREATE TABLE jobs(
                id INTEGER PRIMARY KEY,
                version_id INTEGER NOT NULL REFERENCES versions(id),
                kind TEXT NOT NULL,
                state TEXT NOT NULL CHECK(state IN ('queued','running','succeeded','failed','dead','cancelled')),
                priority INTEGER NOT NULL DEFAULT 0,
                attempts INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                run_after_ns INTEGER NOT NULL DEFAULT 0,
                lease_owner TEXT,
                lease_expires_ns INTEGER,
                progress INTEGER NOT NULL DEFAULT 0 CHECK(progress BETWEEN 0 AND 100),
                progress_message TEXT,
                last_error TEXT,
                media_type TEXT,
                media_class TEXT NOT NULL DEFAULT 'other',
                processor TEXT,
                outcome TEXT,
                processing_ns INTEGER,
                output_bytes INTEGER,
                created_at_ns INTEGER NOT NULL,
                updated_at_ns INTEGER NOT NULL,
                started_at_ns INTEGER,
                finished_at_ns INTEGER);
            CREATE INDEX jobs_ready ON jobs(media_class, priority DESC, id) WHERE state IN ('queued','failed');
            CREATE INDEX jobs_by_version ON jobs(version_id);
            CREATE INDEX jobs_by_state ON jobs(state, kind);
            """),
        // Kinds with parameters, dependencies and the states of a pipeline: "failed" now means
        // failed for good (the old "failed", waiting for its retry, is "retrying"), and the one
        // job kind of before, "process", is "extract".
        CatalogMigration(name: "jobs-2", sqlite: """
            CREATE TABLE jobs_new(
                id INTEGER PRIMARY KEY,
                version_id INTEGER NOT NULL REFERENCES versions(id),
                kind TEXT NOT NULL,
                state TEXT NOT NULL CHECK(state IN ('waiting','queued','running','retrying','succeeded','failed','dead','skipped','cancelled')),
                priority INTEGER NOT NULL DEFAULT 0,
                params TEXT NOT NULL DEFAULT '{}',
                queued_by TEXT NOT NULL DEFAULT 'pipeline',
                attempts INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                run_after_ns INTEGER NOT NULL DEFAULT 0,
                lease_owner TEXT,
                lease_expires_ns INTEGER,
                progress INTEGER NOT NULL DEFAULT 0 CHECK(progress BETWEEN 0 AND 100),
                progress_message TEXT,
                last_error TEXT,
                media_type TEXT NOT NULL,
                media_class TEXT NOT NULL,
                processor TEXT,
                outcome TEXT,
                processing_ns INTEGER,
                output_bytes INTEGER,
                created_at_ns INTEGER NOT NULL,
                updated_at_ns INTEGER NOT NULL,
                started_at_ns INTEGER,
                finished_at_ns INTEGER);
            INSERT INTO jobs_new(id, version_id, kind, state, priority, attempts, max_attempts, run_after_ns, lease_owner,
                                 lease_expires_ns, progress, progress_message, last_error, media_type, media_class, processor,
                                 outcome, processing_ns, output_bytes, created_at_ns, updated_at_ns, started_at_ns, finished_at_ns)
                SELECT id, version_id, CASE kind WHEN 'process' THEN 'extract' ELSE kind END,
                       CASE state WHEN 'failed' THEN 'retrying' ELSE state END, priority, attempts, max_attempts, run_after_ns,
                       lease_owner, lease_expires_ns, progress, progress_message, last_error,
                       coalesce(media_type, 'application/octet-stream'), media_class, processor, outcome, processing_ns,
                       output_bytes, created_at_ns, updated_at_ns, started_at_ns, finished_at_ns
                FROM jobs;
            DROP TABLE jobs;
            ALTER TABLE jobs_new RENAME TO jobs;
            CREATE INDEX jobs_ready ON jobs(priority DESC, id) WHERE state IN ('queued','retrying');
            CREATE INDEX jobs_by_version ON jobs(version_id, kind);
            CREATE INDEX jobs_by_state ON jobs(state, kind);
            CREATE TABLE job_dependencies(
                job_id INTEGER NOT NULL REFERENCES jobs(id),
                waits_for INTEGER NOT NULL REFERENCES jobs(id),
                PRIMARY KEY(job_id, waits_for)) WITHOUT ROWID;
            CREATE INDEX job_dependencies_by_dependency ON job_dependencies(waits_for);
            CREATE TABLE job_version_status(
                version_id INTEGER PRIMARY KEY REFERENCES versions(id),
                status TEXT NOT NULL,
                updated_at_ns INTEGER NOT NULL);
            CREATE INDEX job_version_status_by_status ON job_version_status(status);
            """),
        // The peak address space of a job's worker while it ran (the analytics record it).
        CatalogMigration(name: "jobs-3", sqlite: """
            ALTER TABLE jobs ADD COLUMN peak_memory_bytes INTEGER;
            """),
    ]
}
