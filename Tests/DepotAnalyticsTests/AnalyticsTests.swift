@testable import DepotAnalytics
import DepotCore
import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// A queue over a fresh catalog with the analytics' tables, and a recorder following its log.
final class AnalyticsFixture {
    let dir = TemporaryDirectory()
    let catalog: Catalog
    let queue: JobQueue
    let recorder: AnalyticsRecorder

    /// `processors`: the processor of each kind the pipeline runs (kinds without one are left out).
    init(settings: AnalyticsSettings = AnalyticsSettings(), processors: [String: String] = ["extract": "p-extract"]) throws {
        let database = try SQLiteDatabase(path: dir.path + "/catalog.sqlite3")
        try database.migrate(Catalog.migrations + JobQueue.migrations)
        catalog = Catalog(database: database)
        queue = JobQueue(catalog: catalog, settings: JobsSettings())
        queue.attachPipeline { kind, _ in processors[kind] }
        recorder = AnalyticsRecorder(queue: queue, store: nil, settings: settings)
    }

    @discardableResult
    func add(_ path: String, _ text: String, type: String, collection: String = "notes", tags: [String] = []) throws -> VersionInfo {
        let bytes = Array(text.utf8)
        return try catalog.record([IngestRecord(collection: collection, path: path, digest: SHA256Hasher.digest(bytes),
                                                size: Int64(bytes.count), sourceMtimeNanoseconds: 0, origin: "test", tags: tags,
                                                mediaType: type)])[0].version
    }

    /// Leases the next job and ends it as a runner would: success taking `ms`, or a failure;
    /// with what the worker said of it (`report`).
    func runNext(ms: Double, fail: String? = nil, report: JobReport? = nil) throws {
        let job = try #require(try queue.lease(owner: "o"))
        if let fail {
            _ = try queue.fail(job, owner: "o", .permanent(fail), report: report)
        } else {
            let ok = try catalog.database.write { tx in
                try queue.succeed(job, owner: "o", .init(outcome: "processed", processorVersion: "1", artifacts: [],
                                                         processingNanoseconds: Int64(ms * 1e6), peakMemoryBytes: 50 << 20,
                                                         report: report), in: tx)
            }
            #expect(ok)
        }
    }

    func query(_ metric: StatsMetric, from: String = "1h", step: String? = nil, measure: String? = nil) throws -> StatsResponse {
        try StatsQueries(database: catalog.database).query(metric, range: try StatsRange.parse(from: from, to: nil, step: step),
                                                           measure: measure)
    }
}

/// A payload of any type and shape: what another module's new event looks like to the analytics.
struct AnyPayload: EventPayload {
    static var eventType: String { "job.succeeded" }
    var fields: [String: String]
    var numbers: [String: Double]
    var documentID: Int64? { nil }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for (k, v) in fields { try c.encode(v, forKey: Key(k)) }
        for (k, v) in numbers { try c.encode(v, forKey: Key(k)) }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

@Suite struct RecorderTests {
    /// Jobs are rolled up per kind × media type with count, p50, p95 and max; reading the log
    /// twice counts nothing twice.
    @Test func processingTimesArePerKindAndMediaType() throws {
        let f = try AnalyticsFixture()
        for i in 0..<10 { try f.add("n\(i).md", "note \(i)", type: "text/markdown") }
        for i in 0..<10 { try f.runNext(ms: Double(10 * (i + 1))) }
        try f.add("a.pdf", "%PDF a", type: "application/pdf")
        try f.runNext(ms: 2000)
        #expect(try f.recorder.catchUp() > 0)
        #expect(try f.recorder.catchUp() == 0)
        let r = try f.query(.processing)
        let md = try #require(r.series.first { $0.labels == ["kind": "extract", "media_type": "text/markdown"] })
        #expect(md.total.count == 10)
        #expect(md.total.max == 100)
        let p50 = try #require(md.total.p50), p95 = try #require(md.total.p95)
        #expect(abs(p50 - 50) / 50 < 0.2, "p50 \(p50)")
        #expect(p95 >= 80 && p95 <= 100, "p95 \(p95)")
        let pdf = try #require(r.series.first { $0.labels["media_type"] == "application/pdf" })
        #expect(pdf.total.count == 1 && pdf.total.max == 2000)
        // The other figures of the same jobs.
        let memory = try f.query(.processing, measure: "peak_memory_bytes")
        #expect(memory.series.first?.total.max == Double(50 << 20))
        let waits = try f.query(.processing, measure: "wait_ms")
        #expect(waits.series.reduce(Int64(0)) { $0 + $1.total.count } == 11)
        #expect(throws: StatsError.self) { try f.query(.processing, measure: "colour") }
    }

    /// A kind and a media type nobody listed (another module's new work) show up as they are recorded.
    @Test func aNewKindAndMediaTypeShowUpWithoutCode() throws {
        let f = try AnalyticsFixture()
        try f.catalog.database.write { tx in
            try EventLog.append(AnyPayload(fields: ["kind": "transcribe", "media_type": "video/webm", "outcome": "processed",
                                                    "collection": "lectures"],
                                           numbers: ["processing_ms": 1234, "attempts": 1]), in: tx)
        }
        try f.recorder.catchUp()
        let r = try f.query(.processing)
        #expect(r.series.map(\.labels) == [["kind": "transcribe", "media_type": "video/webm"]])
        #expect(r.series.first?.total.max == 1234)
        let events = try f.query(.events)
        #expect(events.series.contains { $0.labels["type"] == "job.succeeded" })
    }

    /// What jobs report of themselves (generation's engine, model, tokens, latency, fallbacks)
    /// is recorded a series per figure; `generation` shows the generate kind's, `reports` every kind's.
    @Test func generationFiguresAreRecordedByEngineAndModel() throws {
        let f = try AnalyticsFixture(processors: ["extract": "p-extract", "generate": "p-generate"])
        let openai = JobReport(labels: ["engine": "openai", "model": "llama3.1:8b"],
                               values: ["requests": 3, "tokens_in": 1200, "tokens_out": 300, "latency_ms": 800, "fallbacks": 0,
                                        "breaker_opens": 0])
        // A note's pipeline: extract, then generate once extract is done.
        for i in 0..<3 {
            try f.add("n\(i).md", "note \(i)", type: "text/markdown")
            try f.runNext(ms: 5)
            try f.runNext(ms: 900, report: openai)
        }
        try f.add("late.md", "late", type: "text/markdown")
        try f.runNext(ms: 5)
        try f.runNext(ms: 100, fail: "openai engine: HTTP 503", report: JobReport(labels: ["engine": "openai"], values: ["failures": 1]))
        try f.recorder.catchUp()

        let r = try f.query(.generation)
        func total(_ name: String, _ labels: [String: String] = [:]) -> StatsPoint? {
            r.series.first { s in s.name == name && labels.allSatisfy { k, v in s.labels[k] == v } }?.total
        }
        #expect(total("tokens_in", ["engine": "openai", "model": "llama3.1:8b", "kind": "generate"])?.sum == 3600)
        #expect(total("tokens_out")?.sum == 900)
        #expect(total("requests")?.sum == 9)
        #expect(total("latency_ms")?.count == 3 && total("latency_ms")?.max == 800)
        #expect(r.series.first { $0.name == "tokens_in" }?.unit == "tokens")
        #expect(r.series.first { $0.name == "latency_ms" }?.unit == "ms")
        #expect(total("failures", ["engine": "openai", "result": "failed"])?.sum == 1)
        // Every kind's reports, and nothing of extract's (it said nothing).
        let all = try f.query(.reports)
        #expect(Set(all.series.compactMap { $0.labels["kind"] }) == ["generate"])
        // The report sums them by engine and model.
        let writer = ReportWriter(database: f.catalog.database, store: nil, root: f.dir.path, settings: AnalyticsSettings())
        let now = nowSeconds()
        let data = try writer.build(period: "daily", from: now - now % 86400, to: now - now % 86400 + 86400)
        let use = try #require(data.generationUse.first { $0.model == "llama3.1:8b" })
        #expect(use.tokensIn == 3600 && use.tokensOut == 900 && use.requests == 9 && use.jobs == 3)
        #expect(data.generationUse.first { $0.model == nil }?.failures == 1)
    }

    /// Failures are counted by reason (numbers and quoted names folded), ingests and dedup hits by collection.
    @Test func failuresByReasonAndUsageByCollection() throws {
        let f = try AnalyticsFixture()
        try f.add("a.md", "same bytes", type: "text/markdown", collection: "lectures")
        try f.add("b.md", "same bytes", type: "text/markdown", collection: "lectures")
        try f.add("c.md", "other", type: "text/markdown", collection: "scans")
        try f.runNext(ms: 1, fail: "page 17 could not be read")
        try f.runNext(ms: 1, fail: "page 4 could not be read")
        try f.recorder.catchUp()
        let failures = try f.query(.failures)
        #expect(failures.series.count == 1)
        #expect(failures.series.first?.labels["reason"] == "page N could not be read")
        #expect(failures.series.first?.total.count == 2)
        let usage = try f.query(.usage)
        #expect(usage.series.first { $0.name == "ingests" && $0.labels["collection"] == "lectures" }?.total.count == 2)
        #expect(usage.series.first { $0.name == "ingests" && $0.labels["collection"] == "lectures" }?.total.sum == 20)
        #expect(usage.series.first { $0.name == "dedup_hits" && $0.labels["collection"] == "lectures" }?.total.count == 1)
        #expect(usage.series.first { $0.name == "dedup_hits" && $0.labels["collection"] == "scans" } == nil)
        // Downloads and link rejections come from the HTTP server's counters.
        f.recorder.usage.download(collection: "lectures", bytes: 1000)
        f.recorder.usage.download(collection: "lectures", bytes: 3000)
        f.recorder.usage.linkRejected(reason: "expired")
        try f.recorder.sample()
        let downloads = try #require(try f.query(.usage).series.first { $0.name == "downloads" })
        #expect(downloads.total.count == 2 && downloads.total.sum == 4000)
        #expect(try f.query(.links).series.first?.labels["reason"] == "expired")
        let queue = try f.query(.queue)
        #expect(queue.series.first { $0.labels["state"] == "failed" }?.total.last == 2)
        #expect(try f.query(.storage).series.first { $0.name == "logical_bytes" }?.total.last == 25)
    }

    /// Minutes are kept a day, hours 90 days, days for ever.
    @Test func rollupsAreKeptPerResolution() throws {
        let f = try AnalyticsFixture()
        let now = nowSeconds()
        var batch = RollupBatch()
        batch.add("job.run_ms", ["extract", "text/plain", "p", "c", "processed"], value: 5, at: now - 2 * 86400)
        batch.add("job.run_ms", ["extract", "text/plain", "p", "c", "processed"], value: 7, at: now - 100 * 86400)
        try f.catalog.database.write { tx in try batch.write(in: tx) }
        try f.recorder.prune(now: now)
        func rows(_ step: Int64) throws -> Int {
            try f.catalog.database.read { tx in
                try AnalyticsRecords.cells(step: step, seriesPrefix: "job.", from: 0, to: now + 1, in: tx).count
            }
        }
        #expect(try rows(Resolution.minute) == 0)
        #expect(try rows(Resolution.hour) == 1)
        #expect(try rows(Resolution.day) == 2)
        let year = try f.query(.processing, from: "365d")
        #expect(year.resolutionSeconds == Resolution.day)
        #expect(year.series.first?.total.count == 2)
    }

    @Test func rangesPickTheirResolution() throws {
        let now: Int64 = 1_800_000_000
        let hour = try StatsRange.parse(from: "1h", to: nil, step: nil, now: now)
        #expect(hour.resolution == Resolution.minute && hour.step == 60)
        let week = try StatsRange.parse(from: "7d", to: nil, step: "1h", now: now)
        #expect(week.resolution == Resolution.hour && week.step == 3600)
        let year = try StatsRange.parse(from: "365d", to: nil, step: nil, now: now)
        #expect(year.resolution == Resolution.day && year.step == 4 * 86400)
        // Minutes are gone after a day: a week at 1m is read at hours.
        let old = try StatsRange.parse(from: "7d", to: nil, step: "1m", now: now)
        #expect(old.resolution == Resolution.hour)
        // 80 days at hours is 1920 points: refused (a year at 1h is read at days, 365 points).
        #expect(throws: StatsError.self) { try StatsRange.parse(from: "80d", to: nil, step: "1h", now: now) }
        #expect(try StatsRange.parse(from: "365d", to: nil, step: "1h", now: now).step == 86400)
        #expect(throws: StatsError.self) { try StatsRange.parse(from: "tomorrow", to: nil, step: nil, now: now) }
        #expect(throws: StatsError.self) { try StatsRange.parse(from: "1h", to: "2h", step: nil, now: now) }
    }

    /// What was recorded in the current second is in a range ending now, also when that second
    /// starts a minute (and so the bucket it is recorded in).
    @Test func aRangeEndingNowHasTheCurrentSecond() throws {
        let f = try AnalyticsFixture()
        let now: Int64 = (nowSeconds() / 60) * 60
        var batch = RollupBatch()
        batch.add("queue.depth", ["queued"], value: 3, at: now, gauge: true)
        try f.catalog.database.write { tx in try batch.write(in: tx) }
        let range = try StatsRange.parse(from: "1h", to: nil, step: nil, now: now)
        #expect(range.to == now + 1)
        let r = try StatsQueries(database: f.catalog.database).query(.queue, range: range)
        #expect(r.series.first { $0.labels["state"] == "queued" }?.total.max == 3)
        #expect(try StatsRange.parse(from: "1h", to: "now", step: nil, now: now).to == now + 1)
    }

    @Test func histogramQuantilesAreClose() {
        var h = RollupHistogram()
        for v in 1...1000 { h.add(Double(v)) }
        let p50 = h.quantile(0.5)!, p95 = h.quantile(0.95)!
        #expect(abs(p50 - 500) / 500 < 0.1, "\(p50)")
        #expect(abs(p95 - 950) / 950 < 0.1, "\(p95)")
        #expect(RollupHistogram(text: h.text) == h)
        #expect(RollupHistogram().quantile(0.5) == nil)
    }
}

@Suite struct CustomMetricTests {
    static let config = """
        [analytics]
        report = "weekly"
        report_at = "07:30"
        [[analytics.metrics]]
        name = "lecture_videos"
        help = "Lecture videos ingested"
        events = ["file.stored"]
        collection = "lectures"
        media_type = "video/*"
        [[analytics.metrics]]
        name = "physics_sizes"
        kind = "histogram"
        events = ["file.stored"]
        tag = "physics"
        field = "size"
        """

    @Test func configuredCountersAndHistogramsAreRecordedAndExported() throws {
        let settings = try DepotConfig.parse(toml: Self.config, source: "depot.toml", sections: [AnalyticsSettings.self])[AnalyticsSettings.self]
        #expect(settings.report == "weekly" && settings.reportAt == 7 * 60 + 30)
        #expect(settings.metrics.map(\.name) == ["lecture_videos", "physics_sizes"])
        let f = try AnalyticsFixture(settings: settings)
        try f.add("week1/a.mp4", "video one", type: "video/mp4", collection: "lectures", tags: ["physics"])
        try f.add("week1/b.pdf", "slides", type: "application/pdf", collection: "lectures", tags: ["physics"])
        try f.add("c.mp4", "elsewhere", type: "video/mp4", collection: "scans")
        try f.recorder.catchUp()
        let metrics = try f.query(.metrics)
        #expect(metrics.series.first { $0.name == "lecture_videos" }?.total.count == 1)
        #expect(metrics.series.first { $0.name == "physics_sizes" }?.total.count == 2)
        #expect(metrics.series.first { $0.name == "physics_sizes" }?.total.sum == 15)
        let text = try CustomMetricsExport.render(settings.metrics, database: f.catalog.database)
        #expect(text.contains("# HELP depot_custom_lecture_videos_total Lecture videos ingested"))
        #expect(text.contains("depot_custom_lecture_videos_total 1\n"))
        #expect(text.contains("depot_custom_physics_sizes_count 2\n") && text.contains("depot_custom_physics_sizes_sum 15\n"))
        #expect(text.contains("depot_custom_physics_sizes_bucket{le=\"+Inf\"} 2"))
    }

    /// The recorder reads only the fields it needs from an event's data: a field of the wrong
    /// type is absent (a boolean is no number), a custom metric's own field is read too.
    @Test func theRecorderReadsTheFieldsItNeedsAndTakesNoBooleanForANumber() {
        let json = """
            {"kind":"extract","size":"12","processing_ms":7.5,"attempts":true,"pages":42,"deduplicated":true,
             "artifacts":[{"name":"text.txt","size":3}],"report":{"values":{"tokens":10,"cached":false},"labels":{"engine":"builtin"}}}
            """
        let f = RecordedFields.decode(json, extraNumbers: ["pages"], with: JSONDecoder())
        #expect(f.strings == ["kind": "extract"])
        #expect(f.numbers == ["processing_ms": 7.5, "pages": 42])
        #expect(f.deduplicated == true)
        #expect(f.reportValues == ["tokens": 10] && f.reportLabels == ["engine": "builtin"])
        #expect(RecordedFields.decode("[1, 2]", extraNumbers: [], with: JSONDecoder()).numbers.isEmpty)
        #expect(RecordedFields.decode("{\"kind\":", extraNumbers: [], with: JSONDecoder()).strings.isEmpty)
    }

    @Test func badMetricsAreRefusedWithTheKey() {
        for bad in ["[[analytics.metrics]]\nname = \"a b\"", "[[analytics.metrics]]\nname = \"h\"\nkind = \"histogram\"",
                    "[analytics]\nreport = \"hourly\"", "[analytics]\nreport_at = \"25:00\""] {
            let text = bad.hasPrefix("[[") ? "[analytics]\n" + bad : bad
            #expect(throws: ConfigError.self, "\(bad)") {
                try DepotConfig.parse(toml: text, source: "depot.toml", sections: [AnalyticsSettings.self])
            }
        }
    }
}

@Suite struct LiveFeedTests {
    /// A subscriber that names where it stopped gets what it missed, then what comes, filtered, none twice.
    @Test func resumesFromTheLogThenFollows() async throws {
        let f = try AnalyticsFixture()
        try f.add("a.md", "one", type: "text/markdown", collection: "lectures")
        try f.add("b.md", "two", type: "text/markdown", collection: "scans")
        let firstSeq = try f.catalog.events(after: 0, limit: 1)[0].sequence
        let hub = EventHub(database: f.catalog.database, interval: .milliseconds(5))
        func collect() async throws -> [String] {
            let stream = try hub.subscribe(after: firstSeq - 1, filter: EventFilter(types: ["file.*"], collection: "lectures"))
            try f.add("c.md", "three", type: "text/markdown", collection: "lectures")
            try f.add("d.md", "four", type: "text/markdown", collection: "scans")
            var seen: [String] = []
            for await item in stream {
                let data = try JSONSerialization.jsonObject(with: Data(item.event.dataJSON.utf8)) as! [String: Any]
                seen.append("\(item.event.type) \(data["path"]!)")
                if seen.count == 2 { break }
            }
            return seen
        }
        #expect(try await collect() == ["file.stored a.md", "file.stored c.md"])
        #expect(waitUntil(seconds: 5) { hub.subscriberCount == 0 })
    }

    /// An event committed in this process wakes the feed at once: with a poll interval of a
    /// minute, it still arrives within seconds (a commit of another process waits for the poll).
    @Test func aCommitInThisProcessWakesTheFeed() async throws {
        let f = try AnalyticsFixture()
        let hub = EventHub(database: f.catalog.database, interval: .seconds(60))
        let stream = try hub.subscribe(after: nil, filter: EventFilter(types: ["file.*"], collection: nil))
        // The feed's thread makes its first read and goes to sleep on the signal.
        try await Task.sleep(for: .milliseconds(300))
        let started = monotonicNanoseconds()
        try f.add("woken.md", "wake up", type: "text/markdown")
        var arrived: String?
        for await item in stream {
            arrived = item.event.type
            break
        }
        #expect(arrived == "file.stored")
        #expect(monotonicNanoseconds() - started < 20_000_000_000, "the event waited for the 60 s poll")
    }

    @Test func framesAreServerSentEvents() throws {
        let event = Event(sequence: 42, id: "evt_1", type: "job.failed", timestampNanoseconds: 0, dataJSON: "{\"a\":1}", documentID: nil)
        let frame = ServerSentEvents.frame(FeedEvent(event: event, collection: nil))
        #expect(frame == "id: 42\nevent: job.failed\ndata: \(event.envelopeJSON)\n\n")
        #expect(!ServerSentEvents.frame(FeedEvent(event: event, collection: nil), named: false).contains("event:"))
        #expect(ServerSentEvents.heartbeat(now: 0) == ": heartbeat 1970-01-01T00:00:00.000Z\n\n")
    }
}

@Suite struct ReportTests {
    /// A report is two files in outbox/reports/<date>/, readable offline (SVG inline, no
    /// script, nothing fetched), and a report.created event.
    @Test func aDailyReportIsWrittenAndAnnounced() throws {
        let f = try AnalyticsFixture()
        try f.add("a.md", "one", type: "text/markdown", collection: "lectures")
        try f.runNext(ms: 40)
        try f.add("b.md", "two", type: "text/markdown", collection: "lectures")
        try f.runNext(ms: 1, fail: "unreadable")
        try f.recorder.catchUp()
        try f.recorder.sample()
        let writer = ReportWriter(database: f.catalog.database, store: nil, root: f.dir.path, settings: AnalyticsSettings())
        let now = nowSeconds()
        let today = now - now % 86400
        let folder = try writer.write(period: "daily", from: today, to: today + 86400)
        #expect(folder.hasSuffix("/outbox/reports/" + String(formatTimestamp(today * 1_000_000_000).prefix(10))))
        let html = try String(contentsOfFile: folder + "/report.html", encoding: .utf8)
        #expect(html.contains("<svg") && !html.contains("<script") && !html.contains("src=\"http"))
        #expect(html.contains("lectures") && html.contains("unreadable"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/report.json"))) as! [String: Any]
        let arrivals = json["arrivals"] as! [[String: Any]]
        #expect(arrivals.first?["files"] as? Int == 2)
        let processing = json["processing"] as! [[String: Any]]
        #expect(processing.first?["count"] as? Int == 1 && processing.first?["max_ms"] as? Double == 40)
        #expect((json["failures"] as! [[String: Any]]).first?["label"] as? String == "unreadable (extract)")
        let created = try f.catalog.events(after: 0, limit: 1000).filter { $0.type == "report.created" }
        #expect(created.count == 1 && created[0].dataJSON.contains("report.html"))
        // Due once: the scheduled writer skips a period already written.
        #expect(ReportWriter.lastPeriod("weekly", now: 1_767_225_600 + 3600).0 == 1_766_361_600)  // Thu 2026-01-01 → Mon 2025-12-22
        #expect(ReportWriter.lastPeriod("monthly", now: 1_767_225_600 + 3600) == (1_764_547_200, 1_767_225_600))
    }

    /// The scheduled writer writes yesterday's report once, and none for a period that ended
    /// before the root's first event (the day before depot was set up).
    @Test func noReportOfADayBeforeTheFirstEvent() throws {
        let f = try AnalyticsFixture()
        var settings = AnalyticsSettings()
        settings.reportAt = 0
        let writer = ReportWriter(database: f.catalog.database, store: nil, root: f.dir.path, settings: settings)
        let now = nowSeconds()
        #expect(try writer.writeDue(now: now) == nil)  // no event at all yet
        try f.add("a.md", "one", type: "text/markdown", collection: "lectures")
        #expect(try writer.writeDue(now: now) == nil)  // the first event is today's: yesterday was before depot
        let tomorrow = now + 86400
        let folder = try #require(try writer.writeDue(now: tomorrow))
        #expect(folder.hasSuffix("/outbox/reports/" + String(formatTimestamp((now - now % 86400) * 1_000_000_000).prefix(10))))
        #expect(try writer.writeDue(now: tomorrow) == nil)  // written once
    }
}
