import Foundation
import Strata
import StrataRedis
import StrataTestSupport
import StrataTesting
import Testing

/// The compute lock on the store it guards: the read goes with the lock and the key's lease,
/// and the release with the leased write, each in one script, so a miss waits for two round
/// trips instead of five.
@Suite("Compute lock: the read and the lease with the lock, the release with the write")
struct ComputeLockRoundTripTests {
    /// `\xFFstrata:lock:<key>`, the lock's name in a store without a namespace, as
    /// `redis-cli --quoted-input` reads it.
    static func lockName(_ key: String) -> String { #""\xffstrata:lock:"# + key + #"""# }

    /// Whether `server` holds the lock of `key`.
    static func lockExists(_ key: String, on server: RedisTestServer) async throws -> Bool {
        try await server.cli("--quoted-input", "EXISTS", lockName(key)).trimmingCharacters(in: .whitespacesAndNewlines) == "1"
    }

    @Test(
        "a miss with the compute lock makes two round trips: the read with the lock and the lease, the write with the release")
    func twoRoundTrips() async throws {
        let server = try await RedisTestServer()
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: server.unixURL))
        configuration.poolSize = 1
        let redis = try RedisStore(configuration: configuration)
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: .lockTest(redis))
        // The connection, and the scripts cached by the server (a script's first call is
        // EVALSHA, answered NOSCRIPT, then EVAL: one round trip more, once per server).
        _ = try await cache.getOrSet("warm-up", as: String.self) { "first" }
        let before = redis.statistics.roundTrips
        #expect(try await cache.getOrSet("report", as: String.self) { "computed" } == "computed")
        #expect(redis.statistics.roundTrips - before == 2, "\(redis.statistics.roundTrips - before) round trips for a miss")
        #expect(try await redis.get("report", as: String.self) == "computed", "the value is in Redis")
        #expect(!(try await Self.lockExists("report", on: server)), "and the lock is released")
        #expect(
            try await server.cli("KEYS", "*").split(separator: "\n").sorted() == ["report", "warm-up"],
            "no lease or lock is left behind")
        #expect(cache.statistics.misses == 2 && cache.statistics.computations == 2, "\(cache.statistics)")
    }

    @Test("an L2 hit of a getOrSet with the compute lock is one round trip that takes nothing, copied into L1 with its lifetime")
    func hitTakesNothing() async throws {
        let server = try await RedisTestServer()
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: server.unixURL))
        configuration.poolSize = 1
        let redis = try RedisStore(configuration: configuration)
        let writer = TieredStore(l1: MemoryStore(), l2: redis, configuration: .lockTest(redis))
        _ = try await writer.getOrSet("warm-up", as: String.self) { "first" }  // the connection and the scripts
        try await writer.set("report", "cached", expires: "1h")
        let reader = TieredStore(l1: MemoryStore(), l2: redis, configuration: .lockTest(redis))  // another instance: L1 empty
        let computations = Counter()
        let before = redis.statistics.roundTrips
        let value = try await reader.getOrSet("report", as: String.self, expires: "1h") {
            computations.increment()
            return "computed"
        }
        #expect(value == "cached")
        #expect(computations.count == 0)
        #expect(redis.statistics.roundTrips - before == 1, "\(redis.statistics.roundTrips - before) round trips for an L2 hit")
        #expect(reader.statistics.l2Hits == 1)
        let copy = try #require(try await reader.l1.entry(forKey: "report"), "copied into L1")
        let left = try #require(copy.expiresAt).millisecondsSince1970 - SystemClock().now().millisecondsSince1970
        #expect(left > 3_500_000 && left <= 3_600_000, "with the lifetime it has left: \(left) ms")
        #expect(
            try await server.cli("KEYS", "*").split(separator: "\n").sorted() == ["report", "warm-up"],
            "no lease or lock was taken")
    }

    @Test(
        "a lock that leases with the lock but cannot read with it: getOrSet reads L2 on its own first, and an L2 hit takes no lock"
    )
    func lockThatCannotRead() async throws {
        /// `RedisComputeLock`'s steps but the read with the lock (the protocol's default, `nil`).
        struct LeasingOnly: ComputeLock {
            let lock: RedisComputeLock
            func acquire(_ key: String, lease: Duration) async throws -> String? { try await lock.acquire(key, lease: lease) }
            func release(_ key: String, token: String) async throws { try await lock.release(key, token: token) }
            func leasesWithLock(in store: any KeyValueStore) -> Bool { lock.leasesWithLock(in: store) }
            func acquire(
                _ key: String, lease: Duration, leasing entryLease: EntryLease, for duration: Duration, in store: any KeyValueStore
            ) async throws -> LeasedLock? {
                try await lock.acquire(key, lease: lease, leasing: entryLease, for: duration, in: store)
            }
            func setEntry(
                _ entry: StoredEntry, forKey key: String, ifLeased entryLease: EntryLease, releasing token: String,
                in store: any KeyValueStore
            ) async throws -> Bool? {
                try await lock.setEntry(entry, forKey: key, ifLeased: entryLease, releasing: token, in: store)
            }
        }
        let server = try await RedisTestServer()
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: server.unixURL))
        configuration.poolSize = 1
        let redis = try RedisStore(configuration: configuration)
        var tiered = TieredStore.Configuration.lockTest(redis)
        tiered.computeLock = LeasingOnly(lock: RedisComputeLock(redis: redis))
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: tiered)
        _ = try await cache.getOrSet("warm-up", as: String.self) { "first" }  // the connection and the scripts
        try await redis.set("report", "cached", expires: "1h")
        let before = redis.statistics.roundTrips
        #expect(try await cache.getOrSet("report", as: String.self) { "computed" } == "cached")
        #expect(redis.statistics.roundTrips - before == 1, "the read alone: \(redis.statistics.roundTrips - before) round trips")
        #expect(cache.statistics.l2Hits == 1, "\(cache.statistics)")
        // A miss: the read, the lock with the lease and its read, the write with the release.
        let beforeMiss = redis.statistics.roundTrips
        #expect(try await cache.getOrSet("other", as: String.self) { "computed" } == "computed")
        #expect(redis.statistics.roundTrips - beforeMiss == 3, "\(redis.statistics.roundTrips - beforeMiss) round trips for a miss")
        #expect(!(try await Self.lockExists("other", on: server)), "the lock is released")
    }

    @Test(
        "read or lock: a key that is there takes nothing; a missing one takes the lock and the lease once; another type throws naming the key"
    )
    func readOrAcquire() async throws {
        let server = try await RedisTestServer()
        let redis = try RedisStore(url: server.unixURL)
        let lock = RedisComputeLock(redis: redis)
        try await redis.set("k", "v", expires: "1h")
        guard
            case .found(let entry)? = try await lock.readOrAcquire(
                "k", lease: .seconds(60), leasing: .random(), for: .seconds(60), in: redis)
        else {
            Issue.record("the key is there")
            return
        }
        #expect(String(decoding: entry.bytes, as: UTF8.self) == "v")
        let remaining = try #require(entry.expiresAt).millisecondsSince1970 - SystemClock().now().millisecondsSince1970
        #expect(remaining > 3_590_000 && remaining <= 3_600_000, "with its remaining lifetime: \(remaining) ms")
        #expect(!(try await Self.lockExists("k", on: server)), "nothing taken")

        let lease = EntryLease.random()
        guard case .taken(let token)? = try await lock.readOrAcquire("m", lease: .seconds(60), leasing: lease, for: .seconds(60), in: redis)
        else {
            Issue.record("the key is missing and the lock free")
            return
        }
        #expect(try await Self.lockExists("m", on: server), "the lock is taken")
        let second = EntryLease.random()
        guard case .heldByAnother? = try await lock.readOrAcquire("m", lease: .seconds(60), leasing: second, for: .seconds(60), in: redis)
        else {
            Issue.record("a held lock was taken again")
            return
        }
        let written = StoredEntry(bytes: Array("w".utf8), expiresAt: nil)
        #expect(
            try await redis.setEntry(written, forKey: "m", ifLeased: second, keepingLease: true) == false, "the refused one took no lease")
        #expect(
            try await lock.setEntry(written, forKey: "m", ifLeased: lease, releasing: token, in: redis) == true, "the first lease holds")
        #expect(!(try await Self.lockExists("m", on: server)), "and the write released the lock")

        _ = try await server.cli("RPUSH", "list", "x")
        let refused = try await #require(throws: StrataError.self) {
            _ = try await lock.readOrAcquire("list", lease: .seconds(60), leasing: .random(), for: .seconds(60), in: redis)
        }
        #expect(refused.key == "list", "\(refused)")
        #expect(!(try await Self.lockExists("list", on: server)), "nothing taken")
        // Another store, even on the same server: the caller reads, then locks.
        let other = try RedisStore(url: server.unixURL)
        #expect(try await lock.readOrAcquire("j", lease: .seconds(60), leasing: .random(), for: .seconds(60), in: other) == nil)
        #expect(try await lock.readOrAcquire("j", lease: .seconds(60), leasing: .random(), for: .seconds(60), in: MemoryStore()) == nil)
        #expect(!(try await Self.lockExists("j", on: server)), "nothing was taken")
    }

    @Test(
        "a value in its grace found by the read is the fallback: the computation runs holding the lock, and when it fails the kept value is served"
    )
    func graceFoundByTheRead() async throws {
        let server = try await RedisTestServer()
        let redis = try RedisStore(url: server.unixURL)
        let writer = TieredStore(l1: MemoryStore(), l2: redis, configuration: .lockTest(redis))
        try await writer.set("report", "old", options: EntryOptions(expires: "1s", grace: "1h"))
        try await Task.sleep(for: .milliseconds(1_100))  // past its lifetime (Redis's clock is the wall's), in its grace
        let reader = TieredStore(l1: MemoryStore(), l2: redis, configuration: .lockTest(redis))
        let heldWhileComputing = Lock(false)
        let value = try await reader.getOrSet("report", as: String.self, options: EntryOptions(expires: "1s", grace: "1h")) { _ in
            let held = try await Self.lockExists("report", on: server)
            heldWhileComputing.withLock { $0 = held }
            throw StrataError(code: .backendUnavailable, message: "the database is down")
        }
        #expect(value == "old", "the kept value")
        #expect(heldWhileComputing.withLock { $0 }, "computed holding the lock")
        #expect(reader.statistics.failSafes == 1)
        #expect(!(try await Self.lockExists("report", on: server)), "the lock is released")
    }

    @Test(
        "a read with the lock that passes l2Timeout computes without the lock, and the lock it took when the server answers is released",
        .timeLimit(.minutes(1)))
    func readPastTimeout() async throws {
        let server = try await RedisTestServer()
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: server.unixURL))
        configuration.commandTimeout = .seconds(30)
        let redis = try RedisStore(configuration: configuration)
        // The connection and the scripts, through an instance that waits for a loaded machine.
        let warm = TieredStore(l1: MemoryStore(), l2: redis, configuration: .lockTest(redis))
        _ = try await warm.getOrSet("warm-up", as: String.self) { "first" }
        var tiered = TieredStore.Configuration.lockTest(redis)
        tiered.l2Timeout = .milliseconds(200)
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: tiered)
        server.send(SIGSTOP)  // keeps the connection, answers nothing
        #expect(try await cache.getOrSet("report", as: String.self) { "computed" } == "computed")
        #expect(cache.statistics.l2Errors == 1, "the timeout, reported: \(cache.statistics)")
        server.send(SIGCONT)
        // The read arrives, finds the key missing and takes the lock and the lease; its
        // owner releases the lock (the lease ends by itself).
        #expect(
            try await eventually {
                let keys = try await server.cli("--no-raw", "KEYS", "*")
                return keys.contains("lease:report") && !keys.contains("lock:report")
            }, "the lock is released once the read answers")
        #expect(try await redis.get("report", as: String.self) == nil, "nothing was written without the lease")
        #expect(try await cache.get("report", as: String.self) == "computed", "L1 keeps the value")
    }

    @Test("a computed value refused because the key changed after the miss still releases the lock")
    func refusedWriteReleases() async throws {
        let server = try await RedisTestServer()
        let redis = try RedisStore(url: server.unixURL)
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: .lockTest(redis))
        let gate = PipelineGates.shared.arm(.beforeWrite, key: "report", in: cache)
        defer { PipelineGates.shared.disarm(gate) }
        let computing = Task { try await cache.getOrSet("report", as: String.self) { "computed" } }
        try await gate.reached()  // computed, holding the lock and the lease, about to write
        #expect(try await Self.lockExists("report", on: server), "the lock is held")
        try await RedisStore(url: server.unixURL).set("report", "written meanwhile")  // another instance's write
        gate.open()
        #expect(try await computing.value == "computed", "the caller gets its value")
        #expect(try await redis.get("report", as: String.self) == "written meanwhile", "the newer write stays")
        #expect(cache.statistics.staleWritesRefused == 1)
        #expect(!(try await Self.lockExists("report", on: server)), "the lock is released")
    }

    @Test(
        "a write that lands while a miss waits before its read with the lock and the lease is what that read finds: nothing is computed, no lock is taken"
    )
    func writeBeforeTheLease() async throws {
        let server = try await RedisTestServer()
        let redis = try RedisStore(url: server.unixURL)
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: .lockTest(redis))
        let gate = PipelineGates.shared.arm(.beforeLease, key: "report", in: cache)
        defer { PipelineGates.shared.disarm(gate) }
        let computations = Counter()
        let reading = Task {
            try await cache.getOrSet("report", as: String.self) {
                computations.increment()
                return "computed"
            }
        }
        try await gate.reached()  // missed L1, and about to read L2 with the lock and the lease
        #expect(!(try await Self.lockExists("report", on: server)), "the lock is not taken yet")
        try await cache.set("report", "written meanwhile")
        gate.open()
        #expect(try await reading.value == "written meanwhile")
        #expect(computations.count == 0)
        #expect(!(try await Self.lockExists("report", on: server)), "no lock is held")
        #expect(try await redis.get("report", as: String.self) == "written meanwhile")
    }

    @Test("taking the lock with the lease: the read under the lease, no lease when another holds the lock, two steps for another store")
    func lockWithLease() async throws {
        let server = try await RedisTestServer()
        let redis = try RedisStore(url: server.unixURL)
        let lock = RedisComputeLock(redis: redis)
        try await redis.set("k", "v", expires: "1h")
        let first = EntryLease.random()
        guard
            case .taken(let token, let entry)? = try await lock.acquire(
                "k", lease: .seconds(60), leasing: first, for: .seconds(60), in: redis)
        else {
            Issue.record("the lock was free")
            return
        }
        #expect(entry.map { String(decoding: $0.bytes, as: UTF8.self) } == "v", "the key as read under the lease")
        let remaining = try #require(entry?.expiresAt).millisecondsSince1970 - SystemClock().now().millisecondsSince1970
        #expect(remaining > 3_590_000 && remaining <= 3_600_000, "with its remaining lifetime: \(remaining) ms")
        let second = EntryLease.random()
        guard case .heldByAnother? = try await lock.acquire("k", lease: .seconds(60), leasing: second, for: .seconds(60), in: redis)
        else {
            Issue.record("a held lock was taken again")
            return
        }
        #expect(try await lock.acquire("k", lease: .seconds(60)) == nil, "the lock is held")
        #expect(
            try await redis.setEntry(StoredEntry(bytes: Array("w".utf8), expiresAt: nil), forKey: "k", ifLeased: second, keepingLease: true)
                == false, "the refused acquisition took no lease")
        #expect(
            try await lock.setEntry(
                StoredEntry(bytes: Array("w".utf8), expiresAt: nil), forKey: "k", ifLeased: first, releasing: token, in: redis)
                == true, "the first lease held: the write with the release wrote")
        #expect(try await redis.get("k", as: String.self) == "w")
        #expect(try await lock.acquire("k", lease: .seconds(60)) != nil, "and released the lock")

        // Another store, even on the same server: the two steps are the caller's.
        let other = try RedisStore(url: server.unixURL)
        #expect(try await lock.acquire("j", lease: .seconds(60), leasing: .random(), for: .seconds(60), in: other) == nil)
        #expect(try await lock.acquire("j", lease: .seconds(60), leasing: .random(), for: .seconds(60), in: MemoryStore()) == nil)
        #expect(
            try await lock.setEntry(StoredEntry(bytes: [], expiresAt: nil), forKey: "j", ifLeased: .random(), releasing: "t", in: other)
                == nil)
        #expect(!(try await Self.lockExists("j", on: server)), "nothing was taken")
    }

    @Test("a write whose lease was broken is refused and still releases the lock; another holder's lock is left alone")
    func writeAndRelease() async throws {
        let server = try await RedisTestServer()
        let redis = try RedisStore(url: server.unixURL)
        let lock = RedisComputeLock(redis: redis)
        let lease = EntryLease.random()
        guard case .taken(let token, nil)? = try await lock.acquire("k", lease: .seconds(60), leasing: lease, for: .seconds(60), in: redis)
        else {
            Issue.record("the lock was free and the key missing")
            return
        }
        try await redis.set("k", "newer")  // breaks the lease
        let entry = StoredEntry(bytes: Array("\"computed\"".utf8), expiresAt: nil)
        #expect(try await lock.setEntry(entry, forKey: "k", ifLeased: lease, releasing: token, in: redis) == false)
        #expect(try await redis.get("k", as: String.self) == "newer")
        let next = try #require(try await lock.acquire("k", lease: .seconds(60)), "the lock was released")
        #expect(try await lock.setEntry(entry, forKey: "k", ifLeased: lease, releasing: token, in: redis) == false)
        #expect(try await lock.acquire("k", lease: .seconds(60)) == nil, "a stale token did not release the next holder's lock")
        try await lock.release("k", token: next)
    }

    @Test(
        "a key of another Redis type: the lock is taken and the read's failure names the key; the value is computed holding the lock and kept out of Redis"
    )
    func foreignType() async throws {
        let server = try await RedisTestServer()
        let redis = try RedisStore(url: server.unixURL)
        let lock = RedisComputeLock(redis: redis)
        _ = try await server.cli("RPUSH", "list", "x")
        guard
            case .takenUnread(let token, let error)? = try await lock.acquire(
                "list", lease: .seconds(60), leasing: .random(), for: .seconds(60), in: redis)
        else {
            Issue.record("the lock was free: it is taken, and the read fails")
            return
        }
        #expect((error as? StrataError)?.key == "list", "\(error)")
        #expect(try await lock.acquire("list", lease: .seconds(60)) == nil, "the lock is the caller's")
        try await lock.release("list", token: token)

        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: .lockTest(redis))
        let heldWhileComputing = Lock(false)
        #expect(
            try await cache.getOrSet("list", as: String.self) {
                let held = try await Self.lockExists("list", on: server)
                heldWhileComputing.withLock { $0 = held }
                return "fine"
            } == "fine")
        #expect(heldWhileComputing.withLock { $0 }, "computed holding the lock")
        #expect(cache.statistics.l2Errors == 2, "the first read and the read under the lease, each reported once")
        #expect(
            try await server.cli("LRANGE", "list", "0", "-1").trimmingCharacters(in: .whitespacesAndNewlines) == "x",
            "the list was not written over")
        #expect(try await cache.get("list", as: String.self) == "fine", "L1 keeps the value")
        #expect(!(try await Self.lockExists("list", on: server)), "the lock is released")
    }

    @Test(
        "a lease the server refuses (an ACL without the lease names): the lock is not left held, and the value is computed and kept in L1")
    func leaseRefused() async throws {
        let server = try await RedisTestServer()
        try await server.cli("--quoted-input", "ACL", "SETUSER", "app", "on", ">pw", "~k*", #""~\xffstrata:lock:*""#, "&*", "+@all")
        let redis = try RedisStore(url: "redis://app:pw@127.0.0.1:\(server.port)")
        let lock = RedisComputeLock(redis: redis)
        let refused = try await #require(throws: StrataError.self) {
            _ = try await lock.acquire("k1", lease: .seconds(60), leasing: .random(), for: .seconds(60), in: redis)
        }
        #expect(refused.code == .accessDenied, "\(refused)")
        #expect(!(try await Self.lockExists("k1", on: server)), "the lock is not held")
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: .lockTest(redis))
        #expect(try await cache.getOrSet("k1", as: String.self) { "computed" } == "computed")
        #expect(try await cache.get("k1", as: String.self) == "computed", "L1 keeps it")
        #expect(!(try await Self.lockExists("k1", on: server)), "and no lock is left")
        #expect(try await server.cli("EXISTS", "k1").trimmingCharacters(in: .whitespacesAndNewlines) == "0", "no write without a lease")
    }

    @Test("a lock on another store, even on the same server, takes its two steps: five round trips, the lock released")
    func twoStepsForAnotherStore() async throws {
        let server = try await RedisTestServer()
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: server.unixURL))
        configuration.poolSize = 1
        let redis = try RedisStore(configuration: configuration)
        let lockStore = try RedisStore(configuration: configuration)
        var tiered = TieredStore.Configuration.lockTest(redis)
        tiered.computeLock = RedisComputeLock(redis: lockStore)
        #expect(tiered.computeLock?.leasesWithLock(in: redis) == false)
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: tiered)
        _ = try await cache.getOrSet("warm-up", as: String.self) { "first" }  // the connections and the scripts
        let before = (redis.statistics.roundTrips, lockStore.statistics.roundTrips)
        #expect(try await cache.getOrSet("report", as: String.self) { "computed" } == "computed")
        #expect(redis.statistics.roundTrips - before.0 == 3, "the read, the lease with its read, the leased write")
        #expect(lockStore.statistics.roundTrips - before.1 == 2, "the lock's SET NX, its release")
        #expect(try await redis.get("report", as: String.self) == "computed")
        #expect(!(try await Self.lockExists("report", on: server)), "the lock is released")
    }
}
