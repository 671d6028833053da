#if Vapor && Hummingbird
import Foundation
import Hummingbird
import Strata
import StrataHummingbird
import StrataTestSupport
import StrataTesting
import StrataVapor
import Testing
import VaporTesting

/// A key the Vapor or Hummingbird adapter removes is noted to its flight, as a change
/// through the typed API is (Docs/Consistency.md, R1 and C1): a `getOrSet` that begins after
/// the removal returned never takes the value the flight stored before it. (After an
/// adapter's write, such a `getOrSet` reads that value and joins no flight.)
@Suite("The adapters note their changes to a key's flight")
struct AdapterChangeNoteTests {
    static let backends = ["memory", "sqlite", "redis", "tiered over SQLite"]

    static func withStore(_ backend: String, _ body: (any KeyValueStore) async throws -> Void) async throws {
        let stores = IntegrationStores()
        let store: any KeyValueStore =
            switch backend {
            case "memory": MemoryStore(maxEntries: 1_000)
            case "sqlite": try stores.sqlite()
            case "redis": try await stores.redis()
            default: try stores.tieredOverSQLite()
            }
        do {
            try await body(store)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    }

    /// An adapter's `removal` of "k", then its `setThatRemoves`, each made after a flight
    /// of "k" wrote its value: a `getOrSet` that joins the flight afterwards computes its own.
    static func expectNoted(
        in store: any KeyValueStore, removal: () async throws -> Void, setThatRemoves: () async throws -> Void
    ) async throws {
        let removed = try await KeyValueStoreConformance.joiningAfterAChange(in: store, change: removal)
        #expect(removed.leader == "computed by the leader", "the leader's caller gets its value")
        #expect(removed.follower == "computed by the follower", "the follower began after the removal: it computes")
        _ = try await store.delete("k")
        let expired = try await KeyValueStoreConformance.joiningAfterAChange(in: store, change: setThatRemoves)
        #expect(expired.follower == "computed by the follower", "the follower began after a set that removes: it computes")
    }

    @Test(
        "C1/R1 through Hummingbird: a getOrSet that joins a flight after StrataPersistDriver.remove, or a set with expires: .zero, that followed the flight's write computes its own value",
        .timeLimit(.minutes(1)), arguments: backends)
    func hummingbirdRemoveIsNoted(backend: String) async throws {
        try await Self.withStore(backend) { store in
            let persist = StrataPersistDriver(store: store)
            try await Self.expectNoted(
                in: store, removal: { try await persist.remove(key: "k") },
                setThatRemoves: { try await persist.set(key: "k", value: "gone", expires: .zero) })
        }
    }

    @Test(
        "C2 through the adapters, on a store of your own with the default leases: a computed value never replaces a StrataPersistDriver.set or req.cache.set that began after its miss",
        .timeLimit(.minutes(1)))
    func adapterWritesBreakTheDefaultLeases() async throws {
        // A store of your own on the default leases: kept in this process.
        let store = ForwardingStore(base: MemoryStore(), forwardsPipeline: false, keepsLeasesInProcess: true)
        let persist = StrataPersistDriver(store: store)
        let returned = try await KeyValueStoreConformance.computing("h", in: store, value: "computed") {
            try await persist.set(key: "h", value: "set by Hummingbird", expires: .seconds(3_600))
        }
        #expect(returned == "computed", "the computation's caller gets its value")
        // (The computed value, had it won, would not even decode as the driver's JSON: nil.)
        let read = try? await persist.get(key: "h", as: String.self)
        #expect(read == "set by Hummingbird", "the driver's set that began after the miss wins")
        do {  // the adapter alone, on the shared event loops: no application to start
            let cache = StrataCache(store: store, eventLoop: MultiThreadedEventLoopGroup.singleton.any())
            _ = try await KeyValueStoreConformance.computing("v", in: store, value: "computed") {
                try await cache.set("v", to: "set by Vapor").get()
            }
            #expect(try await cache.get("v", as: String.self).get() == "set by Vapor", "Vapor's set that began after the miss wins")
        }
        try await store.close()
    }

    @Test(
        "C1/R1 through Vapor: a getOrSet that joins a flight after req.cache.set(key, to: nil), or with a lifetime of 0 s, that followed the flight's write computes its own value",
        .timeLimit(.minutes(1)), arguments: backends)
    func vaporChangesAreNoted(backend: String) async throws {
        try await Self.withStore(backend) { store in
            do {  // the adapter alone, on the shared event loops: no application to start
                let cache = StrataCache(store: store, eventLoop: MultiThreadedEventLoopGroup.singleton.any())
                try await Self.expectNoted(
                    in: store, removal: { try await cache.set("k", to: String?.none).get() },
                    setThatRemoves: { try await cache.set("k", to: "gone", expiresIn: .seconds(0)).get() })
            }
        }
    }
}

#endif
