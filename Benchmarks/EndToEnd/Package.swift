// swift-tools-version: 6.2
import PackageDescription

// The end-to-end benchmark's application: one route served by Hummingbird or Vapor, with no
// cache, the framework's own in-memory store, or a TieredStore over Redis. Driven by
// `e2e.py` with wrk (Benchmarks/run e2e). A package of its own, because it builds both
// frameworks: neither the library's default build nor strata-bench pays for them.
let package = Package(
    name: "StrataEndToEnd",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Strata", path: "../..", traits: ["Hummingbird", "Vapor"]),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.10.0"),
        .package(url: "https://github.com/vapor/vapor.git", from: "4.115.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
    ],
    targets: [
        .executableTarget(
            name: "strata-e2e",
            dependencies: [
                .product(name: "StrataRedis", package: "Strata"),
                .product(name: "StrataVapor", package: "Strata"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
