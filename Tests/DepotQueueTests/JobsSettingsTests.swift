import DepotCore
@testable import DepotQueue
import Testing

private func jobs(_ text: String) throws -> JobsSettings {
    let config = try DepotConfig.parse(toml: text, source: "depot.toml", sections: [JobsSettings.self])
    return config[JobsSettings.self]
}

@Suite struct JobsSettingsTests {
    @Test func limitsComeFromTheKindThenTheClassThenTheKindsOwnThenJobs() throws {
        let s = try jobs("""
            [jobs]
            timeout = "5m"
            memory_limit = "1GiB"
            [jobs.kinds.extract]
            memory_limit = "3GiB"
            max_attempts = 5
            slots = 1
            priority = 7
            [jobs.kinds.extract.parameters]
            max_pages = 50
            [jobs.classes.video]
            timeout = "1h"
            """)
        #expect(s.limits(kind: JobKinds.extract, mediaClass: "video") == JobLimits(timeout: .seconds(3600), memoryBytes: 3 << 30, cpu: .seconds(600)))
        #expect(s.limits(kind: JobKinds.extract, mediaClass: "documents").timeout == .seconds(300))
        // The thumbnail's own budget is tighter than [jobs]'s unless the config says otherwise.
        #expect(s.limits(kind: JobKinds.thumbnail, mediaClass: "documents") == JobLimits(timeout: .seconds(120), memoryBytes: 1 << 30, cpu: .seconds(600)))
        #expect(s.limits(kind: JobKinds.thumbnail, mediaClass: "video").timeout == .seconds(3600))
        #expect(s.maxAttempts(kind: "extract", mediaClass: "documents") == 5 && s.maxAttempts(kind: "thumbnail", mediaClass: "documents") == 3)
        #expect(s.slots(kind: "extract") == 1 && s.slots(kind: "thumbnail") == nil)
        #expect(s.priority(of: JobKinds.extract) == 7 && s.priority(of: JobKinds.thumbnail) == -10)
        #expect(s.kinds["extract"]?.parameters == ["max_pages": .int(50)])
        // The worker's hard limit is the largest any job gets: the rendition kind's own 4 GiB.
        #expect(s.largestMemoryLimit == 4 << 30)
    }

    @Test(arguments: [
        ("[jobs]\nworkers = 0", "jobs.workers", 2),
        ("[jobs.kinds.transcode]\ntimeout = \"1m\"", "unknown key 'jobs.kinds.transcode'", 1),
        ("\n[jobs.kinds.thumbnail]\n\nwidth = 3", "jobs.kinds.thumbnail.width", 4),
        ("[jobs.kinds.thumbnail.parameters]\nwidth = 3", "width must be from 16 to 2048", 1),
        ("[jobs.classes.documents]\nslots = 2", "jobs.classes.documents.slots", 2),
        ("[jobs]\nlease = \"1ms\"", "jobs.lease", 2),
    ])
    func aBadSettingNamesTheFileTheKeyAndTheLine(_ text: String, _ key: String, _ line: Int) {
        let error = #expect(throws: ConfigError.self) { try jobs(text) }
        #expect(error?.description.contains(key) == true, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("depot.toml:\(line): ") == true, "\(String(describing: error))")
    }
}
