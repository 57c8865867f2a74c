// swift-tools-version:6.0
// depot: a storage appliance that keeps, understands and shares dropped files.
// The targets follow the pipeline in ../shared/DESIGN.md: one per part.
import PackageDescription

let package = Package(
    name: "depot",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "depot", targets: ["Depot"]),
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

        // Linux calls Swift's Glibc module does not declare (syncfs, renameat2).
        .target(name: "CLinux"),

        // Shared ground: errno → errors, configuration, logging, systemd notify.
        .target(
            name: "DepotCore",
            dependencies: [
                "CLinux",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        // Blobs, catalog, versions, ingest.
        .target(
            name: "DepotStore",
            dependencies: ["DepotCore", "CSQLite", "CCrypto", "CLinux",
                           .product(name: "Logging", package: "swift-log")]
        ),
        // inotify, rescans, stability, ignore rules, collection settings.
        .target(
            name: "DepotWatch",
            dependencies: ["DepotCore", .product(name: "Logging", package: "swift-log")]
        ),
        // Type detection and the processors, one file each; they run inside worker processes.
        .target(
            name: "DepotProcess",
            dependencies: ["DepotCore", "CPoppler", "CZip", "CXML2", .product(name: "Logging", package: "swift-log")]
        ),
        // The durable job queue in the catalog, leases, retries, worker supervision.
        .target(
            name: "DepotJobs",
            dependencies: ["DepotCore", "DepotStore", "DepotProcess", "CLinux",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")]
        ),
        // The outbox projection and event dispatch (events.jsonl, webhooks).
        .target(
            name: "DepotOutbox",
            dependencies: ["DepotCore", "DepotStore", "CCurl", "CCrypto", "CLinux",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")]
        ),
        // The HTTP server: signed downloads, admin API, /metrics, health.
        .target(
            name: "DepotHTTP",
            dependencies: ["DepotCore", "DepotStore", "CCrypto",
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
        // The `depot` command and the service.
        .executableTarget(
            name: "Depot",
            dependencies: [
                "DepotCore", "DepotStore", "DepotWatch", "DepotProcess", "DepotJobs", "DepotOutbox", "DepotHTTP", "CLinux",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // What several test targets share (temp folders, deterministic bytes, polling).
        .target(name: "DepotTestSupport", dependencies: ["DepotCore"], path: "Tests/DepotTestSupport"),
        .testTarget(name: "DepotCoreTests", dependencies: ["DepotCore"]),
        .testTarget(name: "DepotStoreTests", dependencies: ["DepotTestSupport", "DepotStore", "DepotCore"]),
        .testTarget(name: "DepotWatchTests", dependencies: ["DepotWatch", "DepotCore"]),
        .testTarget(name: "DepotDocumentsTests", dependencies: ["DepotProcess", "DepotCore", "CPoppler"]),
        .testTarget(name: "DepotJobsTests", dependencies: ["DepotTestSupport", "DepotJobs", "DepotProcess", "DepotStore", "DepotCore"]),
        .testTarget(name: "DepotOutboxTests", dependencies: ["DepotTestSupport", "DepotOutbox", "DepotStore", "DepotCore"]),
        .testTarget(name: "DepotHTTPTests", dependencies: ["DepotHTTP", "DepotStore", "DepotCore",
                                                           .product(name: "HummingbirdTesting", package: "hummingbird")]),
        // End-to-end: runs the built `depot` binary against real folders.
        .testTarget(name: "DepotTests", dependencies: ["DepotTestSupport", "DepotStore", "DepotCore", "Depot"]),
    ]
)
