import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation
import Testing

private func digest(_ text: String) -> Digest { SHA256Hasher.digest(Array(text.utf8)) }

private func record(_ collection: String, _ path: String, _ content: String, tags: [String] = []) -> IngestRecord {
    IngestRecord(collection: collection, path: path, digest: digest(content), size: Int64(content.utf8.count),
                 sourceMtimeNanoseconds: 1_700_000_000_000_000_000, origin: "inbox", tags: tags)
}

/// The versioning rules every `Catalog` keeps, run against each configuration.
@Suite struct CatalogContract {
    @Test(arguments: CatalogKind.allCases)
    func samePathDifferentBytesMakesANewVersion(kind: CatalogKind) throws {
        let dir = TemporaryDirectory()
        let catalog = try kind.make(in: dir)
        let first = try catalog.record([record("docs", "a.txt", "one")])
        let second = try catalog.record([record("docs", "a.txt", "two")])
        guard case .created(let v1) = first[0], case .versioned(let v2) = second[0] else {
            Issue.record("expected created then versioned, got \(first) \(second)")
            return
        }
        #expect(v1.number == 1)
        #expect(v2.number == 2)
        #expect(try catalog.versions(collection: "docs", path: "a.txt").map(\.digest) == [digest("one"), digest("two")])
        #expect(try catalog.currentVersion(collection: "docs", path: "a.txt")?.digest == digest("two"))
        #expect(try catalog.version(collection: "docs", path: "a.txt", number: 1)?.digest == digest("one"))
    }

    @Test(arguments: CatalogKind.allCases)
    func samePathSameBytesMakesNothingNew(kind: CatalogKind) throws {
        let dir = TemporaryDirectory()
        let catalog = try kind.make(in: dir)
        _ = try catalog.record([record("docs", "a.txt", "one")])
        let again = try catalog.record([record("docs", "a.txt", "one")])
        guard case .unchanged(let v) = again[0] else {
            Issue.record("expected unchanged, got \(again)")
            return
        }
        #expect(v.number == 1)
        #expect(try catalog.stats().versions == 1)
    }

    @Test(arguments: CatalogKind.allCases)
    func revertingToOldBytesIsANewVersion(kind: CatalogKind) throws {
        let dir = TemporaryDirectory()
        let catalog = try kind.make(in: dir)
        _ = try catalog.record([record("docs", "a.txt", "A")])
        _ = try catalog.record([record("docs", "a.txt", "B")])
        let back = try catalog.record([record("docs", "a.txt", "A")])
        #expect(back[0] == .versioned(back[0].version))
        #expect(back[0].version.number == 3)
        #expect(try catalog.stats().blobs == 2)
    }

    @Test(arguments: CatalogKind.allCases)
    func sameBytesAtAnotherPathIsANewDocumentSharingTheBlob(kind: CatalogKind) throws {
        let dir = TemporaryDirectory()
        let catalog = try kind.make(in: dir)
        _ = try catalog.record([record("docs", "a.txt", "shared bytes"), record("other", "b.txt", "shared bytes")])
        let stats = try catalog.stats()
        #expect(stats.documents == 2)
        #expect(stats.versions == 2)
        #expect(stats.blobs == 1)
        #expect(stats.logicalBytes == 24)
        #expect(stats.storedBytes == 12)
        #expect(try catalog.collectionNames() == ["docs", "other"])
    }

    @Test(arguments: CatalogKind.allCases)
    func documentsCarryTheirTags(kind: CatalogKind) throws {
        let dir = TemporaryDirectory()
        let catalog = try kind.make(in: dir)
        _ = try catalog.record([record("lectures", "physics/week1/a.mp4", "video", tags: ["physics", "week1"]),
                                record("lectures", "b.mp4", "other")])
        let documents = try catalog.documents(collection: "lectures")
        #expect(documents.map(\.path) == ["b.mp4", "physics/week1/a.mp4"])
        #expect(documents[1].tags == ["physics", "week1"])
        #expect(documents[0].tags == [])
        #expect(try catalog.documents(collection: "nothing").isEmpty)
    }
}

@Suite struct SQLiteCatalogTests {
    @Test func reopeningKeepsDataAndSchemaVersion() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/catalog.sqlite3"
        do {
            let catalog = try SQLiteCatalog(path: path)
            _ = try catalog.record([record("docs", "a.txt", "one")])
        }
        let reopened = try SQLiteCatalog(path: path)
        #expect(try reopened.documents(collection: nil).count == 1)
        let db = try SQLiteConnection(path: path)
        #expect(try db.query("PRAGMA user_version")[0].int(0) == Int64(SQLiteCatalog.schemaVersion))
        #expect(try db.query("PRAGMA journal_mode")[0].text(0) == "wal")
    }

    @Test func aBatchThatFailsHalfwayRecordsNothing() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/catalog.sqlite3"
        let catalog = try SQLiteCatalog(path: path)
        // A real SQLite failure in the middle of the transaction: the second record aborts.
        try SQLiteConnection(path: path).execute("""
            CREATE TRIGGER injected BEFORE INSERT ON documents WHEN NEW.path = 'b.txt'
            BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
            """)
        #expect(throws: SQLiteError.self) {
            _ = try catalog.record([record("docs", "a.txt", "1"), record("docs", "b.txt", "2")])
        }
        let stats = try catalog.stats()
        #expect(stats.documents == 0)
        #expect(stats.blobs == 0)
        #expect(stats.collections == 0)
    }

    @Test func aCatalogFromANewerDepotIsRefused() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/catalog.sqlite3"
        _ = try SQLiteCatalog(path: path)
        try SQLiteConnection(path: path).execute("PRAGMA user_version = 999")
        #expect(throws: SQLiteError.self) { _ = try SQLiteCatalog(path: path) }
    }
}

@Suite struct CatalogEventsAndArtifactsTests {
    @Test func recordingWritesEventsInTheSameTransaction() throws {
        let dir = TemporaryDirectory()
        let catalog = try SQLiteCatalog(path: dir.path + "/catalog.sqlite3")
        _ = try catalog.record([record("docs", "a.txt", "one")])
        _ = try catalog.record([record("docs", "a.txt", "one")])
        _ = try catalog.record([record("docs", "a.txt", "two")])
        let events = try catalog.withConnection { try EventLog.events(after: 0, limit: 100, in: $0) }
        #expect(events.map(\.type) == ["file.stored", "version.created", "file.stored", "file.stored", "version.created"])
        #expect(Set(events.map(\.id)).count == 5)
        #expect(events.allSatisfy { $0.id.hasPrefix("evt_") && $0.id.count == 29 })
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(events[4].envelopeJSON.utf8)) as? [String: Any])
        #expect(envelope["event"] as? String == "version.created")
        let data = try #require(envelope["data"] as? [String: Any])
        #expect(data["version"] as? Int == 2)
        #expect(data["sha256"] as? String == digest("two").hex)
        #expect(data["status"] as? String == "new_version")
    }

    @Test func aHookFailureRollsBackTheVersion() throws {
        let dir = TemporaryDirectory()
        let catalog = try SQLiteCatalog(path: dir.path + "/catalog.sqlite3")
        struct Refused: Error {}
        catalog.onVersionCreated { version, _ in if version.path == "b.txt" { throw Refused() } }
        #expect(throws: Refused.self) { _ = try catalog.record([record("docs", "a.txt", "1"), record("docs", "b.txt", "2")]) }
        #expect(try catalog.stats().versions == 0)
        #expect(try catalog.withConnection { try EventLog.events(after: 0, limit: 10, in: $0) }.isEmpty)
    }

    @Test func artifactsOfAKindAreReplaced() throws {
        let dir = TemporaryDirectory()
        let catalog = try SQLiteCatalog(path: dir.path + "/catalog.sqlite3")
        let v = try catalog.record([record("docs", "a.txt", "one")])[0].version
        for text in ["first text", "second text"] {
            let artifact = ArtifactInfo(versionID: v.id, kind: "text.txt", mimeType: "text/plain", digest: digest(text),
                                        size: Int64(text.utf8.count), producer: "text", producerVersion: "1")
            try catalog.withConnection { db in try db.transaction { try SQLiteCatalog.recordArtifacts([artifact], in: db) } }
        }
        let artifacts = try catalog.artifacts(versionID: v.id)
        #expect(artifacts.map(\.kind) == ["text.txt"])
        #expect(artifacts.first?.digest == digest("second text"))
    }

    @Test func moduleMigrationsApplyOnceByName() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/catalog.sqlite3"
        let module = CatalogMigration(name: "test-1", sql: "CREATE TABLE module_things(id INTEGER PRIMARY KEY);")
        _ = try SQLiteCatalog(path: path, modules: [module])
        // A second open must not run it again (CREATE TABLE would fail).
        let catalog = try SQLiteCatalog(path: path, modules: [module])
        #expect(try catalog.withConnection { try $0.query("SELECT count(*) FROM schema_migrations WHERE name = 'test-1'")[0].int(0) } == 1)
    }
}
