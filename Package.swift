// swift-tools-version:6.0
// depot: a storage appliance that keeps, understands and shares dropped files.
// The targets follow the pipeline in ../shared/DESIGN.md: one per part.
import PackageDescription

let package = Package(
    name: "depot",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "depot", targets: ["Depot"]),
        .executable(name: "depot-worker", targets: ["DepotWorker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Hummingbird's own dependencies (already resolved through it), named because DepotHTTP
        // imports their modules: channel handlers (NIOCore), HTTP parts and fields.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // C libraries: a module map and a shim each, nothing else.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // The PostgreSQL client library, for the catalog on a PostgreSQL server.
        .systemLibrary(
            name: "CPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),

        // PDF (poppler-glib) and its renderer cairo: one module, poppler-glib's pkg-config pulls in cairo.
        .systemLibrary(
            name: "CPoppler",
            pkgConfig: "poppler-glib",
            providers: [.apt(["libpoppler-glib-dev", "libcairo2-dev"])]
        ),
        // poppler's core under poppler-glib (Debian's libpoppler-private-dev), for the page text
        // poppler-glib cannot give: text beyond a page's crop box. C calls over C++, in one file.
        .target(
            name: "CPopplerCore",
            cxxSettings: [.unsafeFlags(["-I/usr/include/poppler", "-std=c++17"])],
            linkerSettings: [.linkedLibrary("poppler")]
        ),
        .systemLibrary(
            name: "CZip",
            pkgConfig: "libzip",
            providers: [.apt(["libzip-dev"])]
        ),
        .systemLibrary(
            name: "CXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),

        // FFmpeg 5.1 (video, audio, images): demuxing, decoding, scaling, resampling, encoding.
        // Linked by DepotProcess only: the daemon's HTTP and store never parse media.
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev", "libswresample-dev"])]
        ),

        // Linux calls Swift's Glibc module does not declare (syncfs, renameat2).
        .target(name: "CLinux"),

        // Shared ground: errno → errors, the config file's reader, hashing and signing, time,
        // logging, systemd notify.
        .target(
            name: "DepotCore",
            dependencies: [
                "CLinux", "CCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        // Blobs, catalog, versions, ingest.
        .target(
            name: "DepotStore",
            dependencies: ["DepotCore", "CSQLite", "CPQ", "CCrypto", "CLinux", "DepotCurl",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")]
        ),
        // inotify, rescans, stability, ignore rules, collection settings.
        .target(
            name: "DepotWatch",
            dependencies: ["DepotCore", .product(name: "Logging", package: "swift-log")]
        ),
        // Outbound HTTP over libcurl, set up in one place: webhooks, chat completions, transcriptions.
        .target(
            name: "DepotCurl",
            dependencies: ["DepotCore", "CCurl"]
        ),
        // Generation: the builtin engine (pure Swift) and the OpenAI-compatible backend (libcurl).
        .target(
            name: "DepotGenerate",
            dependencies: ["DepotCore", "DepotCurl"]
        ),
        // What a file is and which processor takes each kind of job for it: type detection
        // from the bytes, the processors' names, kinds and scores, their config ([speech]),
        // the daemon↔worker messages.
        // No C library: the daemon links this, never the processors.
        .target(
            name: "DepotDetect",
            dependencies: ["DepotCore"]
        ),
        // The processors, one file each, and the worker's main loop; they run inside worker
        // processes (the `depot-worker` executable).
        .target(
            name: "DepotProcess",
            dependencies: ["DepotCore", "DepotDetect", "CPoppler", "CPopplerCore", "CZip", "CXML2", "CFFmpeg", "DepotCurl", "DepotGenerate", .product(name: "Logging", package: "swift-log")]
        ),
        // The durable queue of job kinds: parameters, priorities, dependencies, leases, retries.
        // No parser is linked: HTTP, the outbox and the CLI use it without the C libraries.
        .target(
            name: "DepotQueue",
            dependencies: ["DepotCore", "DepotStore"]
        ),
        // Runs the queue's jobs in worker processes started on demand, within their limits.
        .target(
            name: "DepotRunner",
            dependencies: ["DepotCore", "DepotStore", "DepotQueue", "DepotDetect", "CLinux",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")]
        ),
        // The outbox projection and event dispatch (events.jsonl, webhooks).
        .target(
            name: "DepotOutbox",
            dependencies: ["DepotCore", "DepotStore", "DepotQueue", "DepotCurl", "CLinux",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")]
        ),
        // Analytics: roll-ups of what was recorded, time series, the live event feed, status,
        // custom metrics, scheduled reports.
        .target(
            name: "DepotAnalytics",
            dependencies: ["DepotCore", "DepotStore", "DepotQueue", .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")]
        ),
        // The HTTP server: signed downloads, admin API, /metrics, health.
        .target(
            name: "DepotHTTP",
            dependencies: ["DepotCore", "DepotStore", "DepotQueue", "DepotAnalytics",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "HummingbirdCore", package: "hummingbird"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                           .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                           .product(name: "HTTPTypes", package: "swift-http-types"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics"),
                           .product(name: "Prometheus", package: "swift-prometheus")]
        ),
        // The `depot` command and the service. It links no processor (no FFmpeg, poppler, cairo,
        // libzip or libxml2): those run in `depot-worker` processes.
        .executableTarget(
            name: "Depot",
            dependencies: [
                "DepotCore", "DepotStore", "DepotWatch", "DepotDetect", "DepotGenerate", "DepotQueue", "DepotRunner", "DepotOutbox",
                "DepotHTTP", "CLinux",
                "DepotAnalytics",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // `depot-worker`: the processors in a process of their own, started by `depot serve`
        // for jobs and by `depot extract`/`render`/`generate` for one local file.
        .executableTarget(
            name: "DepotWorker",
            dependencies: [
                "DepotCore", "DepotProcess", "DepotGenerate",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // One test target per source target, sharing one support module (temp folders,
        // deterministic bytes, polling, catalogs and stores on a real temporary root).
        .target(name: "DepotTestSupport", dependencies: ["DepotCore", "DepotStore", "DepotCurl"], path: "Tests/DepotTestSupport"),
        .testTarget(name: "DepotCoreTests", dependencies: ["DepotTestSupport", "DepotCore"]),
        .testTarget(name: "DepotStoreTests", dependencies: ["DepotTestSupport", "DepotStore", "DepotCore"]),
        .testTarget(name: "DepotWatchTests", dependencies: ["DepotTestSupport", "DepotWatch", "DepotCore"]),
        .testTarget(name: "DepotDetectTests", dependencies: ["DepotTestSupport", "DepotDetect", "DepotCore"]),
        .testTarget(name: "DepotProcessTests", dependencies: ["DepotTestSupport", "DepotProcess", "DepotCore", "CPoppler", "CFFmpeg",
                                                            "DepotQueue", "DepotGenerate"]),
        .testTarget(name: "DepotGenerateTests", dependencies: ["DepotTestSupport", "DepotGenerate", "DepotCore"]),
        .testTarget(name: "DepotQueueTests", dependencies: ["DepotTestSupport", "DepotQueue", "DepotStore", "DepotCore"]),
        .testTarget(name: "DepotRunnerTests", dependencies: ["DepotTestSupport", "DepotRunner", "DepotQueue", "DepotProcess",
                                                             "DepotStore", "DepotCore"]),
        .testTarget(name: "DepotCurlTests", dependencies: ["DepotTestSupport", "DepotCurl"]),
        .testTarget(name: "DepotOutboxTests", dependencies: ["DepotTestSupport", "DepotOutbox", "DepotQueue", "DepotStore", "DepotCore"]),
        .testTarget(name: "DepotAnalyticsTests", dependencies: ["DepotTestSupport", "DepotAnalytics", "DepotQueue", "DepotStore", "DepotCore"]),
        .testTarget(name: "DepotHTTPTests", dependencies: ["DepotTestSupport", "DepotHTTP", "DepotQueue", "DepotStore", "DepotCore",
                                                           .product(name: "HummingbirdTesting", package: "hummingbird")]),
        // End-to-end: runs the built `depot` binary against real folders; also the whole
        // config file (every module's section) and the architecture's rules (who holds SQL).
        .testTarget(name: "DepotTests", dependencies: ["DepotTestSupport", "DepotStore", "DepotQueue", "DepotCore", "Depot"]),
        // The `depot-worker` executable, run as the daemon runs it: options, config, protocol.
        .testTarget(name: "DepotWorkerTests", dependencies: ["DepotTestSupport", "DepotDetect", "DepotCore", "DepotWorker"]),
    ]
)
