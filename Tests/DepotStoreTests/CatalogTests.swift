import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation
import Testing

private func digest(_ text: String) -> Digest { SHA256Hasher.digest(Array(text.utf8)) }

private func record(_ collection: String, _ path: String, _ content: String, tags: [String] = [],
                    mediaType: String? = nil) -> IngestRecord {
    IngestRecord(collection: collection, path: path, digest: digest(content), size: Int64(content.utf8.count),
                 sourceMtimeNanoseconds: 1_700_000_000_000_000_000, origin: "inbox", tags: tags, mediaType: mediaType)
}

private struct Refused: Error {}

/// The contract of the store's catalog API and of the backend-neutral transaction under it,
/// run against every catalog backend (`CatalogBackend.allCases`).
@Suite struct CatalogContract {
    @Test(arguments: CatalogBackend.allCases)
    func samePathDifferentBytesMakesANewVersion(backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let catalog = try makeCatalog(backend, in: dir)
        let first = try catalog.record([record("docs", "a.txt", "one", mediaType: "text/plain")])
        let second = try catalog.record([record("docs", "a.txt", "two")])
        guard case .created(let v1) = first[0], case .versioned(let v2) = second[0] else {
            Issue.record("expected created then versioned, got \(first) \(second)")
            return
        }
        #expect(v1.number == 1 && v2.number == 2)
        #expect(try catalog.versions(collection: "docs", path: "a.txt").map(\.digest) == [digest("one"), digest("two")])
        #expect(try catalog.currentVersion(collection: "docs", path: "a.txt")?.digest == digest("two"))
        let stored = try #require(try catalog.version(collection: "docs", path: "a.txt", number: 1))
        #expect(stored.digest == digest("one"))
        #expect(stored.mediaType == "text/plain")
        #expect(try catalog.version(id: v2.id)?.number == 2)
        #expect(try catalog.versions(ofDocument: v1.documentID)?.count == 2)
        #expect(try catalog.versions(ofDocument: 9999) == nil)
    }

    @Test(arguments: CatalogBackend.allCases)
    func samePathSameBytesMakesNothingNew(backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let catalog = try makeCatalog(backend, in: dir)
        _ = try catalog.record([record("docs", "a.txt", "one")])
        let again = try catalog.record([record("docs", "a.txt", "one")])
        guard case .unchanged(let v) = again[0] else {
            Issue.record("expected unchanged, got \(again)")
            return
        }
        #expect(v.number == 1)
        #expect(try catalog.stats().versions == 1)
    }

    @Test(arguments: CatalogBackend.allCases)
    func revertingToOldBytesIsANewVersion(backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let catalog = try makeCatalog(backend, in: dir)
        _ = try catalog.record([record("docs", "a.txt", "A")])
        _ = try catalog.record([record("docs", "a.txt", "B")])
        let back = try catalog.record([record("docs", "a.txt", "A")])
        #expect(back[0] == .versioned(back[0].version))
        #expect(back[0].version.number == 3)
        #expect(try catalog.stats().blobs == 2)
    }

    @Test(arguments: CatalogBackend.allCases)
    func sameBytesAtAnotherPathIsANewDocumentSharingTheBlob(backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let catalog = try makeCatalog(backend, in: dir)
        _ = try catalog.record([record("docs", "a.txt", "shared bytes"), record("other", "b.TXT", "shared bytes")])
        let stats = try catalog.stats(byType: true)
        #expect(stats.documents == 2 && stats.versions == 2 && stats.blobs == 1)
        #expect(stats.logicalBytes == 24 && stats.storedBytes == 12)
        #expect(stats.byType == [TypeTotals(type: "txt", documents: 2, versions: 2, logicalBytes: 24)])
        #expect(try catalog.collectionNames() == ["docs", "other"])
    }

    @Test(arguments: CatalogBackend.allCases)
    func documentsCarryTheirTagsAndFilter(backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let catalog = try makeCatalog(backend, in: dir)
        _ = try catalog.record([record("lectures", "physics/week1/a.mp4", "video", tags: ["physics", "week1"]),
                                record("lectures", "b.PDF", "other"), record("notes", "c.md", "note")])
        let documents = try catalog.documents(collection: "lectures")
        #expect(documents.map(\.path) == ["b.PDF", "physics/week1/a.mp4"])
        #expect(documents[1].tags == ["physics", "week1"] && documents[0].tags == [])
        #expect(try catalog.documents(collection: "nothing").isEmpty)
        #expect(try catalog.documents(DocumentQuery(tag: "week1")).map(\.path) == ["physics/week1/a.mp4"])
        #expect(try catalog.documents(DocumentQuery(fileType: "pdf")).map(\.path) == ["b.PDF"])
        // Paging: by id, limit and offset.
        #expect(try catalog.documents(DocumentQuery(limit: 2, offset: 1)).map(\.path) == ["b.PDF", "c.md"])
        // A set of versions described by another owner's subquery (here: a plain list).
        let b = try #require(documents.first)
        let only = VersionSet(sql: "SELECT ?", values: [.integer(b.currentVersionID)])
        #expect(try catalog.documents(DocumentQuery(currentVersionIn: only)).map(\.path) == ["b.PDF"])
        let others = VersionSet(sql: "SELECT ?", values: [.integer(b.currentVersionID)], negated: true)
        #expect(try catalog.documents(DocumentQuery(currentVersionIn: others)).map(\.path) == ["physics/week1/a.mp4", "c.md"])
    }

    @Test(arguments: CatalogBackend.allCases)
    func tagsAddedAndRemovedByHandAreEvents(backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let catalog = try makeCatalog(backend, in: dir)
        let v = try catalog.record([record("docs", "a.txt", "one", tags: ["old"])])[0].version
        #expect(try catalog.tag(document: v.documentID, adding: ["new", "old"]) == ["new", "old"])
        #expect(try catalog.untag(document: v.documentID, removing: "old") == ["new"])
        #expect(try catalog.untag(document: v.documentID, removing: "absent") == ["new"])
        #expect(try catalog.tag(document: 999, adding: ["x"]) == nil)
        let events = try catalog.events(after: 0, limit: 100)
        #expect(events.map(\.type) == ["file.stored", "version.created", "document.tagged", "document.untagged"])
        #expect(events.allSatisfy { $0.documentID == v.documentID })
        // Only the names that were new are in the event.
        #expect(events[2].dataJSON == #"{"added":["new"],"document_id":\#(v.documentID)}"#)
    }

    @Test(arguments: CatalogBackend.allCases)
    func recordingWritesEventsInTheSameTransaction(backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let catalog = try makeCatalog(backend, in: dir)
        _ = try catalog.record([record("docs", "a.txt", "one")])
        _ = try catalog.record([record("docs", "a.txt", "one")])
        _ = try catalog.record([record("docs", "a.txt", "two", mediaType: "text/plain")])
        let events = try catalog.events(after: 0, limit: 100)
        #expect(events.map(\.type) == ["file.stored", "version.created", "file.stored", "file.stored", "version.created"])
        #expect(Set(events.map(\.id)).count == 5)
        #expect(events.allSatisfy { $0.id.hasPrefix("evt_") && $0.id.count == 29 && $0.documentID != nil })
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(events[4].envelopeJSON.utf8)) as? [String: Any])
        #expect(envelope["event"] as? String == "version.created")
        let data = try #require(envelope["data"] as? [String: Any])
        #expect(data["version"] as? Int == 2)
        #expect(data["sha256"] as? String == digest("two").hex)
        #expect(data["status"] as? String == "new_version")
        #expect(data["media_type"] as? String == "text/plain")
        #expect(try catalog.database.read { try EventLog.lastSequence(in: $0) } == events.last?.sequence)
    }

    @Test(arguments: CatalogBackend.allCases)
    func aHookFailureRollsBackTheVersionAndItsEvents(backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let catalog = try makeCatalog(backend, in: dir)
        catalog.onVersionCreated { version, _ in if version.path == "b.txt" { throw Refused() } }
        #expect(throws: Refused.self) { _ = try catalog.record([record("docs", "a.txt", "1"), record("docs", "b.txt", "2")]) }
        #expect(try catalog.stats().versions == 0)
        #expect(try catalog.events(after: 0, limit: 10).isEmpty)
    }

    @Test(arguments: CatalogBackend.allCases)
    func oneTransactionSpansTheCallersOwnChanges(backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let catalog = try makeCatalog(backend, in: dir)
        // A change of the caller's and the catalog's in one write: both or neither.
        #expect(throws: Refused.self) {
            try catalog.database.write { tx in
                _ = try catalog.record([record("docs", "a.txt", "1")], in: tx)
                throw Refused()
            }
        }
        #expect(try catalog.documents().isEmpty)
        let v = try catalog.database.write { tx in try catalog.record([record("docs", "a.txt", "1")], in: tx)[0].version }
        #expect(try catalog.document(id: v.documentID)?.currentVersionID == v.id)
        // A transaction inside another on the same connection is refused, not deadlocked.
        let nested = #expect(throws: CatalogError.self) {
            try catalog.database.read { _ in try catalog.database.read { _ in 0 } }
        }
        #expect(nested?.value == .nested)
        #expect(catalog.database.ping())
    }

    @Test(arguments: CatalogBackend.allCases)
    func artifactsOfAKindAreReplacedAndServedUnderTheirDocumentsName(backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let catalog = try makeCatalog(backend, in: dir)
        let v = try catalog.record([record("docs", "reports/a.pdf", "one")])[0].version
        for text in ["first text", "second text"] {
            let artifact = ArtifactInfo(versionID: v.id, kind: "text.txt", mimeType: "text/plain", digest: digest(text),
                                        size: Int64(text.utf8.count), producer: "text", producerVersion: "1")
            try catalog.database.write { tx in try catalog.recordArtifacts([artifact], in: tx) }
        }
        let artifacts = try catalog.artifacts(versionID: v.id)
        #expect(artifacts.map(\.kind) == ["text.txt"])
        #expect(artifacts.first?.digest == digest("second text"))
        // Three blob rows: the original, the artifact, and the replaced artifact's bytes, which
        // nothing references any more (left for the collector); stats count originals only.
        #expect(try catalog.stats().blobs == 1)
        let usage = try catalog.storageUsage(store: nil)
        #expect(usage.storedBlobs == 1 && usage.artifactBlobs == 1 && usage.reclaimableBlobs == 1)
        #expect(try catalog.version(id: v.id)?.artifactCount == 1)
        let file = try #require(try catalog.database.read { try catalog.storedFile(artifact: artifacts[0].id, in: $0) })
        #expect(file.fileName == "a.pdf.text.txt" && file.mimeType == "text/plain" && file.collection == "docs")
        let original = try #require(try catalog.database.read { try catalog.storedFile(version: v.id, in: $0) })
        #expect(original.fileName == "a.pdf" && original.mimeType == nil && original.digest == digest("one"))
        #expect(try catalog.database.read { try catalog.storedFile(version: 999, in: $0) } == nil)
    }

    @Test(arguments: CatalogBackend.allCases)
    func migrationsApplyOnceByNameAndANewerCatalogIsRefused(backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let database = try backend.make(in: dir, migrations: Catalog.migrations)
        let module = CatalogMigration(name: "test-1", sqlite: "CREATE TABLE module_things(id INTEGER PRIMARY KEY);")
        try database.migrate(Catalog.migrations + [module])
        // Applying again must not run it again (CREATE TABLE would fail).
        try database.migrate(Catalog.migrations + [module])
        #expect(try database.read { try $0.query("SELECT count(*) FROM schema_migrations WHERE name = 'test-1'")[0].int(0) } == 1)
        // A depot that does not know test-1 is older than this catalog.
        let refused = #expect(throws: CatalogError.self) { try database.migrate(Catalog.migrations) }
        #expect(refused?.value == .schema)
        #expect(refused?.description.contains("test-1") == true)
    }
}

@Suite struct SQLiteDatabaseTests {
    @Test func reopeningKeepsDataInWALMode() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/catalog.sqlite3"
        do {
            let catalog = Catalog(database: try SQLiteDatabase(path: path))
            try catalog.database.migrate(Catalog.migrations)
            _ = try catalog.record([record("docs", "a.txt", "one")])
        }
        let reopened = try SQLiteDatabase(path: path)
        try reopened.migrate(Catalog.migrations)
        #expect(try Catalog(database: reopened).documents().count == 1)
        #expect(try reopened.read { try $0.query("PRAGMA journal_mode")[0].text(0) } == "wal")
    }

    @Test func aBatchThatFailsHalfwayRecordsNothing() throws {
        let dir = TemporaryDirectory()
        let catalog = try makeCatalog(.sqliteFile, in: dir)
        // A real SQLite failure in the middle of the transaction: the second record aborts.
        try catalog.database.write { tx in
            try tx.execute("""
                CREATE TRIGGER injected BEFORE INSERT ON documents WHEN NEW.path = 'b.txt'
                BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
                """)
        }
        let error = #expect(throws: CatalogError.self) {
            _ = try catalog.record([record("docs", "a.txt", "1"), record("docs", "b.txt", "2")])
        }
        #expect(error?.value == .constraint)
        let stats = try catalog.stats()
        #expect(stats.documents == 0 && stats.blobs == 0 && stats.collections == 0)
    }

    /// A catalog written before migrations were named (PRAGMA user_version 2, the modules'
    /// names in schema_migrations) opens, keeps its rows and gains the new columns.
    @Test func aCatalogFromBeforeNamedMigrationsIsUpgraded() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/catalog.sqlite3"
        let old = try SQLiteDatabase(path: path)
        try old.write { tx in
            for migration in Catalog.migrations.prefix(2) {
                for statement in migration.sqlite.components(separatedBy: ";\n") where !statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    try tx.execute(statement)
                }
            }
            try tx.execute("INSERT INTO collections(name, created_at_ns) VALUES('docs', 1)")
            try tx.execute("INSERT INTO blobs(digest, size, stored_at_ns) VALUES(?, 3, 1)", [.text(digest("one").hex)])
            try tx.execute("INSERT INTO documents(collection_id, path, current_version, created_at_ns, updated_at_ns) VALUES(1, 'a.txt', 1, 1, 1)")
            try tx.execute("""
                INSERT INTO versions(document_id, number, blob_digest, size, source_mtime_ns, ingested_at_ns, origin)
                VALUES(1, 1, ?, 3, 1, 1, 'inbox')
                """, [.text(digest("one").hex)])
            try tx.execute("INSERT INTO events(id, type, timestamp_ns, data) VALUES('evt_1', 'version.created', 1, '{\"version_id\":1}')")
            try tx.execute("PRAGMA user_version = 2")
        }
        try old.migrate(Catalog.migrations)
        let catalog = Catalog(database: old)
        #expect(try catalog.documents().map(\.path) == ["a.txt"])
        #expect(try catalog.currentVersion(collection: "docs", path: "a.txt")?.mediaType == nil)
        // The document of an old event is found from its JSON.
        #expect(try catalog.events(after: 0, limit: 10).first?.documentID == 1)
    }
}
