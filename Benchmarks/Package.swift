// swift-tools-version: 6.1
import PackageDescription

// Strata's benchmarks: every measurement beside its raw baseline, in the same run.
// Run from this directory:  swift package --disable-sandbox benchmark
// This package is separate so the library's default build fetches no package at all.
let package = Package(
    name: "StrataBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named, because a path package's identity is otherwise its folder's name.
        .package(name: "Strata", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The raw baseline's own view of the system SQLite (the library's is internal).
        .systemLibrary(name: "CSQLiteBaseline", path: "Sources/CSQLiteBaseline", pkgConfig: "sqlite3"),
        .systemLibrary(name: "CHiredisBaseline", path: "Sources/CHiredisBaseline", pkgConfig: "hiredis"),
        // Every benchmark beside its raw baseline, interleaved, as JSON lines (Benchmarks/run).
        .executableTarget(
            name: "strata-bench",
            dependencies: [
                .product(name: "StrataSQLite", package: "Strata"),
                .product(name: "StrataRedis", package: "Strata"),
                .product(name: "StrataHTTP", package: "Strata"),
                .product(name: "StrataTesting", package: "Strata"),
                "CSQLiteBaseline",
                "CHiredisBaseline",
            ]
        ),
        .executableTarget(
            name: "MemoryBenchmarks",
            dependencies: [
                .product(name: "Strata", package: "Strata"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/MemoryBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "TieredBenchmarks",
            dependencies: [
                .product(name: "StrataSQLite", package: "Strata"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/TieredBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "SQLiteBenchmarks",
            dependencies: [
                .product(name: "StrataSQLite", package: "Strata"),
                "CSQLiteBaseline",
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/SQLiteBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
