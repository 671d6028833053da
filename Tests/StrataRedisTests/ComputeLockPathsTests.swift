import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import StrataTesting
import Testing

/// C3 (Docs/Consistency.md): the compute lock is taken on every path a computation takes,
/// not only by the plain `getOrSet`.
@Suite("Cross-process single flight on every compute path")
struct ComputeLockPathsTests {
    /// The three ways an application asks for a computed value.
    enum Path: String, CaseIterable, Sendable, CustomStringConvertible {
        case options = "getOrSet(_:as:options:compute:)"
        case expires = "getOrSet(_:as:expires:compute:)"
        case memoize = "memoize(prefix:options:)"
        var description: String { rawValue }
    }

    /// Asks `cache` for the report through `path`, with a computation of about 300 ms.
    static func ask(_ cache: TieredStore, through path: Path, _ computations: Counter) async throws -> String {
        let options = EntryOptions(expires: "1h", grace: "1h", tags: ["reports"])
        let build: @Sendable () async throws -> String = {
            computations.increment()
            try await Task.sleep(for: .milliseconds(300))
            return "built once"
        }
        switch path {
        case .options:
            return try await cache.getOrSet("report", as: String.self, options: options, compute: build)
        case .expires:
            return try await cache.getOrSet("report", as: String.self, expires: "1h") { try await build() }
        case .memoize:
            let report = cache.memoize(prefix: "report:", options: options) { (_: Int) in try await build() }
            return try await report(7)
        }
    }

    @Test(
        "C3: three instances sharing Redis with a compute lock, four callers each, compute one missing key once between them, on every compute path",
        .timeLimit(.minutes(1)), arguments: Path.allCases)
    func oncePerClusterOnEveryPath(path: Path) async throws {
        let url = try await RedisTestServer.shared
        let namespace = "lock-paths:\(UUID().uuidString):"
        let instances = try (0..<3).map { _ in
            var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: url))
            configuration.keyNamespace = namespace
            let redis = try RedisStore(configuration: configuration)
            // See TieredStore.Configuration.lockTest in ComputeLockTests.
            return TieredStore(
                l1: MemoryStore(), l2: redis, configuration: .lockTest(redis))
        }
        let computations = Counter()
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for cache in instances {
                for _ in 0..<4 {
                    group.addTask { try await Self.ask(cache, through: path, computations) }
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(values == Array(repeating: "built once", count: 12), "every caller got the value")
        #expect(computations.count == 1, "computed \(computations.count) times for 3 instances through \(path)")
        _ = try await instances[0].clear()
        for cache in instances { try await cache.close() }
    }
}
