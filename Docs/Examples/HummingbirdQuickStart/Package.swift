// swift-tools-version: 6.2
import PackageDescription

// A Hummingbird app that caches a slow query in a TieredStore over Redis and keeps its
// sessions there too. See Docs/GettingStarted.md, "Quick starts".
let package = Package(
    name: "HummingbirdQuickStart",
    platforms: [.macOS(.v15)],
    dependencies: [
        // In your app: .package(url: "https://github.com/strata-cache/strata.git", from: "1.0.0", traits: ["Hummingbird"])
        // (the Hummingbird trait turns on ServiceLifecycle as well: StoreService).
        .package(name: "Strata", path: "../../..", traits: ["Hummingbird"]),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.0.0"),
    ],
    targets: [
        .executableTarget(
            name: "HummingbirdQuickStart",
            dependencies: [
                .product(name: "Strata", package: "Strata"),
                .product(name: "StrataRedis", package: "Strata"),
                .product(name: "StrataHummingbird", package: "Strata"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
            ])
    ],
    swiftLanguageModes: [.v6]
)
