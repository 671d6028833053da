#if Vapor || Hummingbird
import Foundation
import StrataRedis
import StrataSQLite
import StrataTesting
import Testing

/// Entries written with `set(_:_:options:)` in a tiered store over Redis or SQLite, on
/// real time, for the adapters to read (issue 23: the adapters decoded an envelope's bytes
/// themselves, and served an entry in its grace period): "short" lives a few seconds and is
/// kept an hour more for its grace; "tagged" lives an hour, with the tag "team".
struct OptionsScene {
    struct Profile: Codable, Sendable, Equatable {
        var name: String
        var visits: Int
    }

    /// The checks that needed "short" alive took longer than its lifetime.
    struct LifetimeRanOut: Error {}

    static let backends = ["redis", "sqlite"]
    static let ada = Profile(name: "Ada", visits: 3)

    let store: TieredStore
    /// "short"'s lifetime.
    let lifetime: Duration
    private let written: ContinuousClock.Instant
    /// An instant of the store's clock by which "short"'s lifetime has ended.
    private let shortEndsBy: Timestamp

    private init(backend: String, lifetime: Duration) async throws {
        let stores = IntegrationStores()
        let l2: any KeyValueStore = backend == "sqlite" ? try SQLiteStore(path: stores.sqlitePath) : try await stores.redis()
        store = TieredStore(l1: MemoryStore(maxEntries: 1_000), l2: l2)
        self.lifetime = lifetime
        written = ContinuousClock.now
        try await store.set("short", Self.ada, options: EntryOptions(expires: Expiry(lifetime), grace: "1h", tags: ["short"]))
        shortEndsBy = store.clock.now().adding(milliseconds: lifetime.wholeMilliseconds(roundingUp: true))
        try await store.set("tagged", Self.ada, options: EntryOptions(expires: "1h", grace: "1h", tags: ["team"]))
    }

    /// Runs `body` with a fresh scene, and closes its store. A body that finds the short
    /// lifetime ran out before it could check what it read within it (a machine too loaded
    /// to make a few calls in time: see ``requireWithinLifetime()``) runs again with a fresh
    /// scene and a lifetime twice as long: 3 s, 6 s, then 12 s.
    static func run(backend: String, _ body: (OptionsScene) async throws -> Void) async throws {
        var lifetime = Duration.seconds(3)
        for attempt in 1...3 {
            let scene = try await OptionsScene(backend: backend, lifetime: lifetime)
            do {
                try await body(scene)
                try await scene.close()
                return
            } catch is LifetimeRanOut where attempt < 3 {
                try await scene.close()
                lifetime *= 2
            } catch {
                try? await scene.close()
                throw error
            }
        }
    }

    /// Ends the reads that needed "short" alive, before anything checks them: throws
    /// ``LifetimeRanOut`` (and the scene is made again) when they took its lifetime or more.
    func requireWithinLifetime() throws {
        if ContinuousClock.now - written >= lifetime { throw LifetimeRanOut() }
    }

    /// Waits (polling the store's clock) until "short" is past its lifetime; its entry is
    /// still held, for its grace.
    func passShortLifetime() async throws {
        while store.clock.now() <= shortEndsBy { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try await store.l2.entry(forKey: "short") != nil, "the entry is kept for its grace")
    }

    private func close() async throws {
        _ = try await store.clear()
        try await store.close()
    }
}
#endif
