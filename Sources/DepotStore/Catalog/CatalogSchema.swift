extension Catalog {
    /// Every table the store owns, by migration name, in order: the catalog's own, then the
    /// HTTP server's tokens and links ("http-1"), the outbox dispatcher's cursor and
    /// deliveries ("outbox-1"), and upload links and uploads ("uploads-1"). The names are those each had when its module held it, so a
    /// catalog migrated then takes them as applied.
    public static let migrations: [CatalogMigration] = catalogTables + AccessRecords.migrations + DispatchState.migrations
        + UploadRecords.migrations + retentionTables + AnalyticsRecords.migrations

    /// The catalog's own tables, by name, in order. "store-1" and "store-2" are the schema depot
    /// kept under `PRAGMA user_version` before every part named its migrations; they are
    /// written with IF NOT EXISTS so a catalog from then takes them as already applied.
    /// Append only: a released migration is never edited.
    static let catalogTables: [CatalogMigration] = [
        CatalogMigration(name: "store-1", sqlite: """
            CREATE TABLE IF NOT EXISTS collections(
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                created_at_ns INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS blobs(
                digest TEXT PRIMARY KEY CHECK(length(digest) = 64),
                size INTEGER NOT NULL,
                stored_at_ns INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS documents(
                id INTEGER PRIMARY KEY,
                collection_id INTEGER NOT NULL REFERENCES collections(id),
                path TEXT NOT NULL,
                current_version INTEGER NOT NULL DEFAULT 0,
                created_at_ns INTEGER NOT NULL,
                updated_at_ns INTEGER NOT NULL,
                UNIQUE(collection_id, path));
            CREATE TABLE IF NOT EXISTS versions(
                id INTEGER PRIMARY KEY,
                document_id INTEGER NOT NULL REFERENCES documents(id),
                number INTEGER NOT NULL,
                blob_digest TEXT NOT NULL REFERENCES blobs(digest),
                size INTEGER NOT NULL,
                source_mtime_ns INTEGER NOT NULL,
                ingested_at_ns INTEGER NOT NULL,
                origin TEXT NOT NULL,
                UNIQUE(document_id, number));
            CREATE INDEX IF NOT EXISTS versions_by_blob ON versions(blob_digest);
            CREATE TABLE IF NOT EXISTS tags(
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE);
            CREATE TABLE IF NOT EXISTS document_tags(
                document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
                tag_id INTEGER NOT NULL REFERENCES tags(id),
                PRIMARY KEY(document_id, tag_id)) WITHOUT ROWID;
            """),
        // The event log (EventLog) and the artifacts processors make from a version.
        CatalogMigration(name: "store-2", sqlite: """
            CREATE TABLE IF NOT EXISTS events(
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL,
                timestamp_ns INTEGER NOT NULL,
                data TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS artifacts(
                id INTEGER PRIMARY KEY,
                version_id INTEGER NOT NULL REFERENCES versions(id),
                kind TEXT NOT NULL,
                mime_type TEXT NOT NULL,
                blob_digest TEXT NOT NULL REFERENCES blobs(digest),
                size INTEGER NOT NULL,
                producer TEXT NOT NULL,
                producer_version TEXT NOT NULL,
                created_at_ns INTEGER NOT NULL,
                UNIQUE(version_id, kind));
            CREATE INDEX IF NOT EXISTS artifacts_by_blob ON artifacts(blob_digest);
            """),
        // The type detected at ingest on each version; the document an event is about as a
        // column (filled from the JSON of events written before), so dispatch needs no parsing.
        CatalogMigration(name: "store-3", sqlite: """
            ALTER TABLE versions ADD COLUMN media_type TEXT;
            ALTER TABLE events ADD COLUMN document_id INTEGER;
            UPDATE events SET document_id = json_extract(data, '$.document_id')
                WHERE json_valid(data) AND json_type(data, '$.document_id') = 'integer';
            UPDATE events SET document_id = (SELECT document_id FROM versions WHERE id = json_extract(events.data, '$.version_id'))
                WHERE document_id IS NULL AND json_valid(data) AND json_type(data, '$.version_id') = 'integer';
            CREATE INDEX events_by_document ON events(document_id, seq);
            """),
    ]
}
