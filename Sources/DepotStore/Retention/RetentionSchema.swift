import DepotCore

extension Catalog {
    /// The tables and columns of deletion, the trash and garbage collection ("retention-1"):
    /// when a document or a version went to the trash (NULL: it is live); the blobs the
    /// collector found unreferenced, with the time it first did (the grace period runs from
    /// then); daily storage samples; pinned versions; legal holds on a document or a whole
    /// collection; when a blob was found damaged (never served until it is healed); then ("retention-2") the
    /// scrub's state and the mirror-mode files found missing. Append only: a released migration is never edited.
    static let retentionTables: [CatalogMigration] = [
        CatalogMigration(name: "retention-1", sqlite: """
            ALTER TABLE documents ADD COLUMN trashed_at_ns INTEGER;
            ALTER TABLE versions ADD COLUMN trashed_at_ns INTEGER;
            CREATE INDEX documents_trashed ON documents(trashed_at_ns) WHERE trashed_at_ns IS NOT NULL;
            CREATE INDEX versions_trashed ON versions(trashed_at_ns) WHERE trashed_at_ns IS NOT NULL;
            CREATE TABLE gc_marks(
                digest TEXT PRIMARY KEY CHECK(length(digest) = 64),
                size INTEGER NOT NULL,
                unreferenced_since_ns INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE storage_samples(
                day INTEGER PRIMARY KEY,
                stored_bytes INTEGER NOT NULL,
                artifact_bytes INTEGER NOT NULL,
                sampled_at_ns INTEGER NOT NULL);
            CREATE TABLE pins(
                version_id INTEGER PRIMARY KEY REFERENCES versions(id),
                pinned_at_ns INTEGER NOT NULL,
                note TEXT NOT NULL DEFAULT '');
            CREATE TABLE holds(
                id INTEGER PRIMARY KEY,
                collection_id INTEGER NOT NULL REFERENCES collections(id),
                document_id INTEGER REFERENCES documents(id),
                mode TEXT NOT NULL CHECK(mode IN ('governance', 'compliance')),
                until_ns INTEGER NOT NULL,
                reason TEXT NOT NULL DEFAULT '',
                created_at_ns INTEGER NOT NULL,
                released_at_ns INTEGER);
            CREATE INDEX holds_by_collection ON holds(collection_id, document_id);
            ALTER TABLE blobs ADD COLUMN damaged_at_ns INTEGER;
            """),
        // The scrub's one row (its cursor and the pass's figures), and since when each
        // mirror-mode document's file has been missing from the share.
        CatalogMigration(name: "retention-2", sqlite: """
            CREATE TABLE scrub_state(
                id INTEGER PRIMARY KEY CHECK(id = 1),
                passes INTEGER NOT NULL,
                pass_started_at_ns INTEGER NOT NULL,
                cursor TEXT NOT NULL,
                pass_blobs INTEGER NOT NULL,
                pass_bytes INTEGER NOT NULL,
                pass_damaged INTEGER NOT NULL,
                pass_healed INTEGER NOT NULL,
                last_pass_finished_at_ns INTEGER,
                last_slice_at_ns INTEGER);
            CREATE TABLE mirror_missing(
                document_id INTEGER PRIMARY KEY,
                missing_since_ns INTEGER NOT NULL);
            """),
    ]
}
