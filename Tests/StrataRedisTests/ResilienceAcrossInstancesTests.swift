import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import StrataTesting
import Synchronization
import Testing

struct ServiceDown: Error {}

@Suite("Resilience across instances sharing Redis")
struct ResilienceAcrossInstancesTests {
    @Test(
        "a tag invalidated on one instance makes the other instance's L1 copies unreadable, and only those",
        .timeLimit(.minutes(1)))
    func tagsReachOtherInstances() async throws {
        let server = try await RedisTestServer()
        let a = try Instance(url: server.unixURL)
        let b = try Instance(url: server.unixURL)
        defer { [a, b].forEach { $0.subscription.cancel() } }
        try await b.waitUntilSubscribed(via: a)
        try await a.waitUntilSubscribed(via: b)

        try await a.cache.set("team3:report", "r", options: EntryOptions(expires: "1h", tags: ["team:3"]))
        try await a.cache.set("team4:report", "s", options: EntryOptions(expires: "1h", tags: ["team:4"]))
        // B reads both: its L1 now holds them, and knows team:3 was never invalidated.
        #expect(
            try await eventually {
                guard try await b.cache.get("team3:report", as: String.self) == "r" else { return false }
                return try await b.cache.l1.has("team3:report")
            })
        #expect(try await b.cache.get("team4:report", as: String.self) == "s")
        try await Task.sleep(for: .milliseconds(2))
        try await a.cache.invalidate(tags: ["team:3"])
        #expect(
            try await eventually { try await b.cache.get("team3:report", as: String.self) == nil },
            "B stops serving its L1 copy of the tagged entry")
        #expect(try await b.cache.get("team4:report", as: String.self) == "s")
        #expect(try await a.cache.get("team3:report", as: String.self) == nil)
    }

    @Test(
        "an entry computed on one instance is the other's fallback when its computation fails after expiry",
        .timeLimit(.minutes(1)))
    func failSafeAcrossInstances() async throws {
        let server = try await RedisTestServer()
        // An L2 read past l2Timeout would leave B no kept value to fall back on: not what
        // this test is about, so its L2 calls may take as long as a loaded machine needs.
        let a = try Instance(url: server.unixURL, l2Timeout: .seconds(60))
        let b = try Instance(url: server.unixURL, l2Timeout: .seconds(60))
        defer { [a, b].forEach { $0.subscription.cancel() } }
        let options = EntryOptions(expires: "1s", grace: "1h", failSafeThrottle: "1h")
        _ = try await a.cache.getOrSet("price", as: Int.self, options: options) { 42 }
        try await Task.sleep(for: .milliseconds(1_100))
        let calls = Counter()
        for _ in 0..<3 {
            let value = try await b.cache.getOrSet("price", as: Int.self, options: options) {
                calls.increment()
                throw ServiceDown()
            }
            #expect(value == 42)
        }
        #expect(calls.count == 1, "the throttle held the failing dependency off")
        #expect(b.cache.statistics.failSafes == 1)
        #expect(b.events.count(.failSafe) == 1)
        // The re-armed value is in Redis: A serves it too without computing.
        let fromA = try await a.cache.getOrSet("price", as: Int.self, options: options) { throw ServiceDown() }
        #expect(fromA == 42)
    }
}
