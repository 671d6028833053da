// swift-tools-version: 6.2
import PackageDescription

// Strata: a multi-tier cache for server-side Swift.
//
// The default build depends on no third-party Swift package: the core uses only the
// toolchain (FoundationEssentials, Synchronization), and the backends reach their C
// libraries (libsqlite3, libhiredis) through system-library targets found by pkg-config.
let package = Package(
    name: "Strata",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Strata", targets: ["Strata"]),
        .library(name: "StrataSQLite", targets: ["StrataSQLite"]),
        .library(name: "StrataRedis", targets: ["StrataRedis"]),
        .library(name: "StrataHTTP", targets: ["StrataHTTP"]),
        .library(name: "StrataTesting", targets: ["StrataTesting"]),
        .executable(name: "strata-demo", targets: ["strata-demo"]),
    ],
    targets: [
        .target(name: "Strata"),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "StrataSQLite", dependencies: ["Strata", "CSQLite"]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .target(name: "StrataRedis", dependencies: ["Strata", "CHiredis"]),
        // FoundationNetworking (URLSession) comes with the toolchain.
        .target(name: "StrataHTTP", dependencies: ["Strata"]),
        .target(name: "StrataTesting", dependencies: ["Strata"]),
        .executableTarget(name: "strata-demo", dependencies: ["Strata", "StrataSQLite", "StrataHTTP", "StrataTesting"]),
        // A helper process for the tests that need a second OS process on one store
        // (cross-process increments on one folder). Not a product.
        .executableTarget(name: "strata-fixture", dependencies: ["Strata", "StrataSQLite", "StrataRedis"]),
        .testTarget(
            name: "StrataTests",
            dependencies: ["Strata", "StrataTesting", "strata-fixture"]
        ),
        .testTarget(
            name: "StrataHTTPTests",
            dependencies: ["StrataHTTP", "StrataSQLite", "StrataTesting"]
        ),
        .testTarget(
            name: "StrataRedisTests",
            dependencies: ["StrataRedis", "StrataSQLite", "StrataHTTP", "StrataTesting", "strata-fixture"]
        ),
        .testTarget(
            name: "StrataSQLiteTests",
            dependencies: ["StrataSQLite", "CSQLite", "StrataTesting", "strata-fixture"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
