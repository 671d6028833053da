// swift-tools-version: 6.2
import PackageDescription

// A Vapor app that caches a slow query in a TieredStore over Redis and keeps its
// sessions there too. See Docs/GettingStarted.md, "Quick starts".
let package = Package(
    name: "VaporQuickStart",
    platforms: [.macOS(.v15)],
    dependencies: [
        // In your app: .package(url: "https://github.com/strata-cache/strata.git", from: "1.0.0", traits: ["Vapor"])
        .package(name: "Strata", path: "../../..", traits: ["Vapor"]),
        .package(url: "https://github.com/vapor/vapor.git", from: "4.115.0"),
    ],
    targets: [
        .executableTarget(
            name: "VaporQuickStart",
            dependencies: [
                .product(name: "Strata", package: "Strata"),
                .product(name: "StrataRedis", package: "Strata"),
                .product(name: "StrataVapor", package: "Strata"),
                .product(name: "Vapor", package: "vapor"),
            ])
    ],
    swiftLanguageModes: [.v6]
)
