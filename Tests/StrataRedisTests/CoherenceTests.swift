import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import StrataTesting
import Synchronization
import Testing

/// One instance of an application: its own L1, its own connections, one shared Redis.
struct Instance {
    let redis: RedisStore
    let bus: RedisInvalidationBus
    let cache: TieredStore
    let events: RedisEventLog
    let subscription: Task<Void, any Error>

    /// `l2Timeout`: the default (2 s) unless a test that is not about timeouts gives its
    /// L2 calls more (a loaded CI machine can take longer than 2 s to answer one).
    init(url: String, l2Timeout: Duration? = TieredStore.Configuration().l2Timeout) throws {
        self.init(redis: try RedisStore(url: url), l2Timeout: l2Timeout)
    }

    init(redis: RedisStore, l2Timeout: Duration? = TieredStore.Configuration().l2Timeout) {
        self.redis = redis
        bus = RedisInvalidationBus(redis: redis)
        events = RedisEventLog()
        cache = TieredStore(
            l1: MemoryStore(maxEntries: 1_000), l2: redis,
            configuration: .init(l2Timeout: l2Timeout, observer: events, invalidationPublisher: bus))
        let (bus, cache) = (bus, cache)
        subscription = Task { try await bus.run(delivering: cache) }
    }

    /// Waits until this instance's subscription is listening: `other` writes a probe key
    /// until this instance reports the announcement of it. Fails the test when it never does.
    ///
    /// It waits for the announcement itself, not for a copy to leave L1: a check made right
    /// after `other`'s write races the message, and one that re-wrote the copy each round
    /// lost that race every round on an idle machine.
    func waitUntilSubscribed(via other: Instance, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let probe = "probe:\(UUID().uuidString)"
        let heard = try await eventually(poll: .milliseconds(100)) {
            try await other.cache.set(probe, 1)
            return try await eventually(within: .milliseconds(200)) {
                events.count(.remoteInvalidation, key: .some(probe)) > 0
            }
        }
        try #require(
            heard, "the subscription never delivered the other instance's announcement of \(probe)", sourceLocation: sourceLocation)
    }
}

final class RedisEventLog: TieredStoreObserver {
    private let events = Lock<[(event: TieredStore.Event, at: ContinuousClock.Instant)]>([])
    func observe(_ event: TieredStore.Event) { events.withLock { $0.append((event, .now)) } }
    func count(_ kind: TieredStore.Event.Kind, key: String?? = .none) -> Int {
        events.withLock { $0.filter { $0.event.kind == kind && (key == .none || $0.event.key == key!) }.count }
    }
    /// When the first event of `kind` (with `key`, if given) after `instant` was observed.
    func first(_ kind: TieredStore.Event.Kind, key: String?? = .none, after instant: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        events.withLock { $0.first { $0.at > instant && $0.event.kind == kind && (key == .none || $0.event.key == key!) }?.at }
    }
}

@Suite("Coherence over Redis")
struct CoherenceTests {
    @Test(
        "a change on one instance drops the copies in the others' L1; an instance ignores its own messages",
        .timeLimit(.minutes(1)))
    func threeInstances() async throws {
        let server = try await RedisTestServer()
        let a = try Instance(url: server.unixURL)
        let b = try Instance(url: server.unixURL)
        let c = try Instance(url: server.unixURL)
        defer { [a, b, c].forEach { $0.subscription.cancel() } }
        try await b.waitUntilSubscribed(via: a)
        try await c.waitUntilSubscribed(via: a)
        try await a.waitUntilSubscribed(via: b)

        let key = "user:1\r\n\0é"  // keys travel as bytes
        try await a.cache.set(key, "v1")
        // A's announcement of this write may still be on its way and drop a copy B or C
        // makes meanwhile (the safe way round): read until the copies stay.
        for instance in [b, c] {
            #expect(
                try await eventually {
                    guard try await instance.cache.get(key, as: String.self) == "v1" else { return false }
                    try await Task.sleep(for: .milliseconds(20))
                    return try await instance.cache.l1.has(key)
                }, "filled its L1 with v1")
        }

        try await a.cache.set(key, "v2")
        #expect(try await eventually { !(try await b.cache.l1.has(key)) }, "B dropped its stale copy")
        #expect(try await eventually { !(try await c.cache.l1.has(key)) }, "C dropped its stale copy")
        #expect(try await b.cache.get(key, as: String.self) == "v2")
        #expect(try await c.cache.get(key, as: String.self) == "v2")
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await a.cache.l1.get(key, as: String.self) == "v2", "A kept its own write: it ignores its own message")

        // delete, increment and clear(prefix:) are announced too.
        #expect(
            try await eventually {
                _ = try await b.cache.get(key, as: String.self)
                try await Task.sleep(for: .milliseconds(20))
                return try await b.cache.l1.has(key)
            })
        try await a.cache.delete(key)
        #expect(try await eventually { try await b.cache.get(key, as: String.self) == nil })
        try await a.cache.set("n", 1)
        _ = try await c.cache.get("n", as: Int.self)
        try await a.cache.increment("n")
        #expect(try await eventually { try await c.cache.get("n", as: Int.self) == 2 })
        for index in 0..<3 { try await a.cache.set("page:\(index)", index) }
        for index in 0..<3 { _ = try await b.cache.get("page:\(index)", as: Int.self) }
        try await a.cache.clear(prefix: "page:")
        #expect(try await eventually { try await b.cache.l1.keys(prefix: "page:").isEmpty })
        #expect(b.events.count(.remoteInvalidation) >= 4)
    }

    @Test(
        "after the subscription is cut (CLIENT KILL), the instance drops its L1 and serves no stale value",
        .timeLimit(.minutes(1)))
    func lostMessages() async throws {
        let server = try await RedisTestServer()
        let a = try Instance(url: server.unixURL)
        let b = try Instance(url: server.unixURL)
        defer { [a, b].forEach { $0.subscription.cancel() } }
        try await b.waitUntilSubscribed(via: a)
        try await a.cache.set("k", "old")
        #expect(try await b.cache.get("k", as: String.self) == "old")

        let flushesBefore = b.events.count(.remoteInvalidation, key: .some(nil))
        try await server.cli("CLIENT", "KILL", "TYPE", "pubsub")
        try await a.cache.set("k", "new")  // B may not hear of this one
        #expect(
            try await eventually { b.events.count(.remoteInvalidation, key: .some(nil)) > flushesBefore },
            "B resubscribed and reported dropping its whole L1")
        #expect(try await b.cache.get("k", as: String.self) == "new", "no stale value after the gap")
    }

    @Test("two OS processes: a write in this one drops the copy in the other's L1", .timeLimit(.minutes(1)))
    func twoProcesses() async throws {
        let server = try await RedisTestServer()
        let writer = try Instance(url: server.unixURL)
        defer { writer.subscription.cancel() }
        try await writer.cache.set("shared", "old")

        let follower = try ChildProcess(
            builtExecutable("strata-fixture"), ["redis-follower", server.unixURL, "shared", "0"], output: .piped)
        let lines = LineReader(follower)
        #expect(await lines.next() == "ready", "the other process read the key into its L1")
        try await writer.cache.set("shared", "new")
        #expect(await lines.next() == "dropped", "the other process dropped its copy")
        #expect(try await follower.exited() == 0)
    }

    @Test("run() returns normally when its task is cancelled")
    func runReturnsOnCancellation() async throws {
        let server = try await RedisTestServer()
        let a = try Instance(url: server.unixURL)
        try await Task.sleep(for: .milliseconds(100))
        a.subscription.cancel()
        try await a.subscription.value
    }
}

/// Reads a child process's output (`.piped`) line by line.
final class LineReader: Sendable {
    private let process: ChildProcess
    private let buffer = Lock<[UInt8]>([])

    init(_ process: ChildProcess) { self.process = process }

    /// The next line, or `nil` at the end of the output.
    func next() async -> String? {
        while true {
            if let line = buffer.withLock({ buffer -> String? in
                guard let newline = buffer.firstIndex(of: 10) else { return nil }
                defer { buffer.removeSubrange(...newline) }
                return String(decoding: buffer[..<newline], as: UTF8.self)
            }) {
                return line
            }
            let data = await process.readAvailable()
            if data.isEmpty { return nil }
            buffer.withLock { $0 += data }
        }
    }
}
