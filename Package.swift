// swift-tools-version: 6.2
import PackageDescription

// Strata: a multi-tier cache for server-side Swift.
//
// The default build depends on no third-party Swift package: the core uses only the
// toolchain (FoundationEssentials, Synchronization), and the backends reach their C
// libraries (libsqlite3, libhiredis, libssl) through system-library targets found by pkg-config
// (hiredis on Linux by the default include path: see hiredisPkgConfig).
//
// Integrations sit behind package traits, all off by default, so a default build
// resolves no package at all. A user turns on what they use:
//   .package(url: "https://github.com/strata-cache/strata.git", from: "1.0.0", traits: ["Vapor"])
let traits: Set<Trait> = [
    .trait(name: "Logging", description: "swift-log: a Logger for TieredStore, RedisStore, the invalidation bus and HTTPCache."),
    .trait(name: "Metrics", description: "swift-metrics: TieredStore events and HTTPCache statistics as counters and timers."),
    .trait(
        name: "ServiceLifecycle",
        description: "swift-service-lifecycle: Service conformances for the stores' background work and closing them on shutdown."),
    .trait(
        name: "AsyncHTTPClient", description: "HTTPCache over AsyncHTTPClient's HTTPClient as well as URLSession.",
        enabledTraits: ["ServiceLifecycle"]),
    .trait(name: "Vapor", description: "StrataVapor: app.caches.use(.strata(store)) and app.sessions.use(.strata(store))."),
    .trait(
        name: "Hummingbird", description: "StrataHummingbird: a PersistDriver over any store (and so hummingbird-auth sessions).",
        enabledTraits: ["ServiceLifecycle"]),
    .default(enabledTraits: []),
]

// hiredis's pkg-config file adds `-D_FILE_OFFSET_BITS=64` (a no-op on 64-bit systems), a
// flag SwiftPM drops with a warning on every build. On Linux the headers are on the default
// include path (`<hiredis/hiredis.h>`), so pkg-config is not asked; Homebrew's are not
// (/opt/homebrew/include), so macOS still finds them through it. A Linux install elsewhere
// (Nix, Homebrew on Linux, a prefix under /opt) sets STRATA_HIREDIS_PKG_CONFIG=1 to use it.
#if os(Linux)
let hiredisPkgConfig: String? = Context.environment["STRATA_HIREDIS_PKG_CONFIG"] == nil ? nil : "hiredis"
#else
let hiredisPkgConfig: String? = "hiredis"
#endif

let package = Package(
    name: "Strata",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Strata", targets: ["Strata"]),
        .library(name: "StrataSQLite", targets: ["StrataSQLite"]),
        .library(name: "StrataRedis", targets: ["StrataRedis"]),
        .library(name: "StrataHTTP", targets: ["StrataHTTP"]),
        .library(name: "StrataTesting", targets: ["StrataTesting"]),
        .library(name: "StrataVapor", targets: ["StrataVapor"]),
        .library(name: "StrataHummingbird", targets: ["StrataHummingbird"]),
        .executable(name: "strata-demo", targets: ["strata-demo"]),
    ],
    traits: traits,
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.24.0"),
        .package(url: "https://github.com/vapor/vapor.git", from: "4.115.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.0.0"),
    ],
    targets: [
        .target(name: "Strata", dependencies: ["CZlib", "CNonBlockingFiles", logging, metrics, serviceLifecycle]),
        // Linux's openat2 (RESOLVE_CACHED) and preadv2 (RWF_NOWAIT), header only: FolderStore
        // reads a cached file on the calling thread, and hands only the rest to its threads.
        .systemLibrary(name: "CNonBlockingFiles"),
        // Compression of stored values: the system zlib (on Linux a prerequisite of the Swift
        // toolchain, zlib1g-dev; in macOS's SDK), found on the default include path.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "StrataSQLite", dependencies: ["Strata", "CSQLite", serviceLifecycle]),
        .systemLibrary(name: "CHiredis", pkgConfig: hiredisPkgConfig, providers: [.apt(["libhiredis-dev"]), .brew(["hiredis"])]),
        // TLS to Redis: the system's OpenSSL, driven non-blocking on the Redis event loop.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]),
        .target(name: "StrataRedis", dependencies: ["Strata", "CHiredis", "COpenSSL", logging, serviceLifecycle]),
        // FoundationNetworking (URLSession) comes with the toolchain.
        .target(
            name: "StrataHTTP",
            dependencies: [
                "Strata", logging, metrics,
                .product(name: "AsyncHTTPClient", package: "async-http-client", condition: .when(traits: ["AsyncHTTPClient"])),
            ]),
        .target(
            name: "StrataVapor",
            dependencies: ["Strata", .product(name: "Vapor", package: "vapor", condition: .when(traits: ["Vapor"]))]),
        .target(
            name: "StrataHummingbird",
            dependencies: [
                "Strata", serviceLifecycle,
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Hummingbird"])),
            ]),
        // The loopback HTTP origin: re-exported by StrataTesting, and the demo's origin.
        .target(name: "StrataLoopbackHTTP", dependencies: ["Strata"]),
        .target(name: "StrataTesting", dependencies: ["Strata", "StrataLoopbackHTTP"]),
        .executableTarget(name: "strata-demo", dependencies: ["Strata", "StrataSQLite", "StrataHTTP", "StrataLoopbackHTTP"]),
        // A helper process for the tests that need a second OS process on one store
        // (cross-process increments on one folder). Not a product.
        .executableTarget(name: "strata-fixture", dependencies: ["Strata", "StrataSQLite", "StrataRedis"]),
        // What the test targets share and users do not need: child processes, a real
        // redis-server. A target of the tests' own, in no product.
        .target(name: "StrataTestSupport", dependencies: ["Strata"], path: "Tests/StrataTestSupport"),
        .testTarget(
            name: "StrataTests",
            dependencies: ["Strata", "StrataTesting", "StrataTestSupport", "strata-fixture"]
        ),
        .testTarget(
            name: "StrataHTTPTests",
            dependencies: [
                "StrataHTTP", "StrataSQLite", "StrataTesting", "StrataTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client", condition: .when(traits: ["AsyncHTTPClient"])),
            ]
        ),
        .testTarget(
            name: "StrataRedisTests",
            dependencies: ["StrataRedis", "StrataHTTP", "StrataTesting", "StrataTestSupport", "strata-fixture"]
        ),
        .testTarget(
            name: "StrataSQLiteTests",
            dependencies: ["StrataSQLite", "CSQLite", "StrataTesting", "StrataTestSupport", "strata-fixture"]
        ),
        // The integrations' tests, each against the real framework (and SQLite or a real
        // Redis), compiled when its trait is on.
        .testTarget(
            name: "StrataIntegrationTests",
            dependencies: [
                "StrataRedis", "StrataSQLite", "StrataHTTP", "StrataTesting", "StrataTestSupport", "StrataVapor", "StrataHummingbird",
                logging, metrics, serviceLifecycle,
                .product(name: "MetricsTestKit", package: "swift-metrics", condition: .when(traits: ["Metrics"])),
                .product(name: "AsyncHTTPClient", package: "async-http-client", condition: .when(traits: ["AsyncHTTPClient"])),
                .product(name: "VaporTesting", package: "vapor", condition: .when(traits: ["Vapor"])),
                .product(name: "HummingbirdTesting", package: "hummingbird", condition: .when(traits: ["Hummingbird"])),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth", condition: .when(traits: ["Hummingbird"])),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The integrations' dependencies, each only when its trait is on.
var logging: Target.Dependency { .product(name: "Logging", package: "swift-log", condition: .when(traits: ["Logging"])) }
var metrics: Target.Dependency { .product(name: "Metrics", package: "swift-metrics", condition: .when(traits: ["Metrics"])) }
var serviceLifecycle: Target.Dependency {
    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle", condition: .when(traits: ["ServiceLifecycle"]))
}
