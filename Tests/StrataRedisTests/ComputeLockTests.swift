import Foundation
import StrataRedis
import StrataTestSupport
import StrataTesting
import Synchronization
import Testing

@testable import Strata

@Suite("Cross-process single flight")
struct ComputeLockTests {
    func instance(_ url: String) throws -> TieredStore {
        let redis = try RedisStore(url: url)
        // See TieredStore.Configuration.lockTest below: a loaded machine must not expire the lock.
        return TieredStore(
            l1: MemoryStore(), l2: redis, configuration: .lockTest(redis))
    }

    @Test("instances with separate L1s missing one key compute it once between them", .timeLimit(.minutes(1)))
    func onceAcrossInstances() async throws {
        let server = try await RedisTestServer()
        let instances = try (0..<3).map { _ in try instance(server.unixURL) }
        let computations = Counter()
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for cache in instances {
                for _ in 0..<5 {
                    group.addTask {
                        try await cache.getOrSet("report", as: String.self) {
                            computations.increment()
                            try await Task.sleep(for: .milliseconds(200))
                            return "built once"
                        }
                    }
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(values.count == 15 && values.allSatisfy { $0 == "built once" })
        #expect(computations.count == 1, "computed \(computations.count) times for 3 instances")
    }

    @Test(
        "when the lock's holder dies without writing, another instance computes once its lease ends",
        .timeLimit(.minutes(1)))
    func deadHolder() async throws {
        let server = try await RedisTestServer()
        let redis = try RedisStore(url: server.unixURL)
        var configuration = TieredStore.Configuration(l2Timeout: .seconds(60), computeLock: RedisComputeLock(redis: redis))  // see above
        configuration.computeLockWait = .seconds(60)  // so only the lease ending lets it compute
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: configuration)
        // A holder that took the lock for 300 ms and died.
        // Locks are named with a first byte of 0xFF (no key can start with it).
        try await server.cli("--quoted-input", "SET", #""\xffstrata:lock:orphan""#, "dead-holder", "NX", "PX", "300")
        let computations = Counter()
        let holder = Lock("")
        let value = try await cache.getOrSet("orphan", as: Int.self) {
            computations.increment()
            let current = try await server.cli("--quoted-input", "GET", #""\xffstrata:lock:orphan""#)
            holder.withLock { $0 = current }
            return 42
        }
        #expect(value == 42)
        #expect(computations.count == 1)
        let lockHolder = holder.withLock { $0 }
        #expect(
            !lockHolder.contains("dead-holder") && !lockHolder.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
            "it computed holding the lock it took over: \(lockHolder)")
    }

    @Test(
        "close() releases the compute lock of a computation it cancels (one its caller left past its hard timeout): the lock is not left held for its lease",
        .timeLimit(.minutes(1)))
    func closeReleasesTheLockOfACancelledComputation() async throws {
        let server = try await RedisTestServer()
        let cache = try instance(server.unixURL)
        var options = EntryOptions(expires: "1h")
        options.hardTimeout = .milliseconds(50)
        await #expect(throws: StrataError.self) {
            _ = try await cache.getOrSet("left", as: String.self, options: options) {
                try await Task.sleep(for: .seconds(3_600))  // until close() cancels it
                return "late"
            }
        }
        #expect(cache.background.count == 1, "the store owns the computation its caller left")
        // Locks are named with a first byte of 0xFF (no key can start with it).
        let lock = #""\xffstrata:lock:left""#
        #expect(try await server.cli("--quoted-input", "EXISTS", lock).contains("1"), "it holds the lock")
        try await cache.close()
        #expect(
            try await server.cli("--quoted-input", "EXISTS", lock).contains("0"),
            "close() cancelled the computation, and its lock was released, not withdrawn with it")
    }

    @Test(
        "C3: an instance that stops waiting for another's computation (past computeLockWait) computes for its own callers without taking the key's lease: the holder's value is still stored, not refused, and no round of refusals follows",
        .timeLimit(.minutes(1)))
    func waiterPastTheWaitLeavesTheHolderItsLease() async throws {
        let server = try await RedisTestServer()
        func instance(wait: Duration) throws -> TieredStore {
            try lockedInstance(server) { $0.computeLockWait = wait }
        }
        let holder = try instance(wait: .seconds(45))
        // Its value is kept in L1 for undeliveredL1Expiry: long enough for the second call.
        let waiter = try lockedInstance(server) {
            $0.computeLockWait = .milliseconds(200)
            $0.undeliveredL1Expiry = "1min"
        }
        let computations = Counter()
        let (held, finish) = try await holdComputation(of: "report", in: holder, counting: computations)
        // The holder computes longer than the waiter's computeLockWait: the waiter computes too.
        let fromWaiter = try await waiter.getOrSet("report", as: String.self) {
            computations.increment()
            return "the waiter's"
        }
        #expect(fromWaiter == "the waiter's")
        let again = try await waiter.getOrSet("report", as: String.self) {
            computations.increment()
            return "computed again"
        }
        #expect(again == "the waiter's", "the waiter's later callers take its L1 copy meanwhile, without waiting again")
        #expect(computations.count == 2)
        finish.yield()
        #expect(try await held.value == "the holder's")
        #expect(holder.statistics.staleWritesRefused == 0, "the waiter did not break the holder's lease")
        let reader = try instance(wait: .seconds(45))
        #expect(try await reader.get("report", as: String.self) == "the holder's", "L2 holds the holder's value")
        #expect(computations.count == 2)
        try await reader.close()
        try await holder.close()
        try await waiter.close()
    }

    @Test(
        "R1: a waiter past computeLockWait whose computation fails serves no copy of a value L2 no longer holds: its read of the key answered that it is missing",
        .timeLimit(.minutes(1)))
    func waiterPastTheWaitServesNoDeletedValue() async throws {
        let server = try await RedisTestServer()
        let waiter = try lockedInstance(server) { $0.computeLockWait = .milliseconds(200) }
        let options = EntryOptions(expires: "1s", grace: "1h")
        _ = try await waiter.getOrSet("report", as: String.self, options: options) { "old" }
        try await Task.sleep(for: .milliseconds(1_100))  // past its lifetime, in its grace
        // Deleted by another instance whose announcement never comes (no bus): L1 keeps its copy.
        try await RedisStore(url: server.unixURL).delete("report")
        // Another instance computes the key, past this one's computeLockWait.
        try await server.cli("--quoted-input", "SET", #""\xffstrata:lock:report""#, "another-holder", "PX", "60000")
        await #expect(throws: ServiceDown.self, "the delete, read from L2, leaves no value to fall back on") {
            _ = try await waiter.getOrSet("report", as: String.self, options: options) { throw ServiceDown() }
        }
        try await waiter.close()
    }

    @Test(
        "C3: the holder renews its lock while it computes: a computation longer than computeLockLease is still computed once, the other instance waiting for its value; the lock is gone once it is written",
        .timeLimit(.minutes(1)))
    func holderRenewsItsLock() async throws {
        let server = try await RedisTestServer()
        // A lease of 9 s, renewed every 3 s: a stall of more than 6 s between two renewals
        // would lose it (the longest a loaded run here has held a job back is 3.7 s).
        let lease = Duration.seconds(9)
        let holder = try lockedInstance(server) { $0.computeLockLease = lease }
        let waiter = try lockedInstance(server) { $0.computeLockLease = lease }
        let lockName = #""\xffstrata:lock:report""#
        let computations = Counter()
        let (held, finish) = try await holdComputation(of: "report", in: holder, counting: computations)
        async let waited = waiter.getOrSet("report", as: String.self) {
            computations.increment()
            return "the waiter's"
        }
        // The lock outlives its first lease: each renewal sets its time to live back to 9 s.
        let taken = ContinuousClock.now
        var renewals = 0
        var lastLeft = Int.max
        while ContinuousClock.now - taken < lease + .seconds(1) {
            let left = Int(try await server.cli("--quoted-input", "PTTL", lockName).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -2
            try #require(left > 0, "the lock is held (PTTL \(left))")
            if left > lastLeft { renewals += 1 }
            lastLeft = left
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(renewals >= 2, "renewed every third of its lease")
        #expect(computations.count == 1, "the waiter still waits for the holder's value")
        finish.yield()
        #expect(try await held.value == "the holder's")
        #expect(try await waited == "the holder's")
        #expect(computations.count == 1)
        #expect(try await server.cli("--quoted-input", "EXISTS", lockName).contains("0"), "released with the write")
        try await holder.close()
        try await waiter.close()
    }

    @Test(
        "C5: a caller cancelled as it takes the compute lock throws CancellationError: it does not compute without the lock, and no L2 failure is counted (gate beforeLock)",
        .timeLimit(.minutes(1)), arguments: [false, true])
    func cancelledWhileTakingTheLock(lockOnL2: Bool) async throws {
        let server = try await RedisTestServer()
        let lockRedis = try RedisStore(url: server.unixURL)
        // On its own L2 the lock leases with the lock (one script); on another store it does not.
        let l2: any KeyValueStore = lockOnL2 ? lockRedis : MemoryStore()
        var configuration = TieredStore.Configuration(l2Timeout: .seconds(60), computeLock: RedisComputeLock(redis: lockRedis))
        configuration.computeLockWait = .seconds(45)
        let cache = TieredStore(l1: MemoryStore(), l2: l2, configuration: configuration)
        // Another instance holds the lock: the caller waits, then asks for the lock again.
        try await server.cli("--quoted-input", "SET", #""\xffstrata:lock:report""#, "another-holder", "PX", "60000")
        let computations = Counter()
        let gate = PipelineGates.shared.arm(.beforeLock, key: "report", in: cache)
        let caller = Task {
            try await cache.getOrSet("report", as: String.self) {
                computations.increment()
                return "computed"
            }
        }
        try await gate.reached()
        caller.cancel()
        gate.open()
        await #expect(throws: CancellationError.self) { try await caller.value }
        #expect(computations.count == 0, "a cancelled caller does not compute without the lock")
        #expect(cache.statistics.l2Errors == 0, "a cancellation is no L2 failure: \(cache.statistics)")
        try await cache.close()
    }

    @Test(
        "a computation its caller left (past its hard timeout) is no longer renewed: it keeps its lock for one lease at most, however long it hangs",
        .timeLimit(.minutes(1)))
    func abandonedComputationStopsRenewing() async throws {
        let server = try await RedisTestServer()
        let cache = try lockedInstance(server) { $0.computeLockLease = .seconds(3) }
        var options = EntryOptions(expires: "1h")
        options.hardTimeout = .milliseconds(50)
        await #expect(throws: StrataError.self) {
            _ = try await cache.getOrSet("hung", as: String.self, options: options) {
                try await Task.sleep(for: .seconds(3_600))  // hangs until close() cancels it
                return "late"
            }
        }
        #expect(cache.background.count == 1, "the computation goes on, owned by the store")
        #expect(
            try await eventually { try await server.cli("--quoted-input", "EXISTS", #""\xffstrata:lock:hung""#).contains("0") },
            "its lock ended with its lease")
        #expect(cache.background.count == 1, "while the computation still runs")
        try await cache.close()
    }

    @Test("renew extends only the holder's lock, and a lost lock is not renewed")
    func renewOnlyByItsHolder() async throws {
        let server = try await RedisTestServer()
        let lock = RedisComputeLock(redis: try RedisStore(url: server.unixURL))
        let name = #""\xffstrata:lock:k""#
        func millisecondsLeft() async throws -> Int {
            Int(try await server.cli("--quoted-input", "PTTL", name).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -3
        }
        let token = try #require(try await lock.acquire("k", lease: .seconds(30)))
        #expect(try await lock.renew("k", token: "someone else's", lease: .seconds(600)) == false)
        let untouched = try await millisecondsLeft()
        #expect((1...30_000).contains(untouched), "a stranger's renew left its lease alone (\(untouched) ms)")
        #expect(try await lock.renew("k", token: token, lease: .seconds(600)) == true)
        let left = try await millisecondsLeft()
        #expect((60_000...600_000).contains(left), "its lease is ten minutes from now (\(left) ms)")
        try await lock.release("k", token: token)
        #expect(try await lock.renew("k", token: token, lease: .seconds(600)) == false, "released: nothing to renew")
        #expect(try await server.cli("--quoted-input", "EXISTS", name).contains("0"), "renew does not bring it back")
    }

    @Test(
        "a held lock is renewed only past a third of its lease: released or dropped sooner it sends no renewal, held longer it is renewed until released",
        .timeLimit(.minutes(1)))
    func renewalOnlyPastAThird() async throws {
        let server = try await RedisTestServer()
        let lock = CountingRenewals(lock: RedisComputeLock(redis: try RedisStore(url: server.unixURL)))
        // Renewed every second: a stall of two seconds before the first renewal would lose
        // it (the longest a loaded run here has held a job back is 3.7 s, in a serial TSan
        // run; the parallel suite held a 600 ms lease's first renewal back past its lease).
        let lease = Duration.seconds(3)
        func hold(_ key: String) async throws -> HeldComputeLock {
            let token = try #require(try await lock.acquire(key, lease: lease))
            return HeldComputeLock(token: token, key: key, lock: lock, lease: lease) { error in
                Issue.record("renewal failed: \(error)")
            }
        }
        // Released, and dropped without a release, before the first third: never renewed.
        let released = try await hold("released")
        #expect(released.claimRelease())
        var dropped: HeldComputeLock? = try await hold("dropped")
        _ = dropped
        dropped = nil
        // Held past a third: renewed (after the others' first renewal would have been due).
        let kept = try await hold("kept")
        try #require(try await eventually { lock.renewals(of: "kept") >= 1 }, "renewed once a third of its lease passed")
        #expect(lock.renewals(of: "released") == 0, "released before its first renewal was due")
        #expect(lock.renewals(of: "dropped") == 0, "a holder dropped before its first renewal is not renewed")
        #expect(kept.claimRelease())
        try await lock.release("kept", token: kept.token)
        let renewed = lock.renewals(of: "kept")
        try await Task.sleep(for: lease / 2)  // past the next renewal's time
        #expect(lock.renewals(of: "kept") == renewed, "not renewed once released")
    }

    /// An instance with the Redis compute lock (`lockTest`), adjusted by `adjust`.
    func lockedInstance(_ server: RedisTestServer, _ adjust: (inout TieredStore.Configuration) -> Void) throws -> TieredStore {
        let redis = try RedisStore(url: server.unixURL)
        var configuration = TieredStore.Configuration.lockTest(redis)
        adjust(&configuration)
        return TieredStore(l1: MemoryStore(), l2: redis, configuration: configuration)
    }

    /// `holder` computing `key` ("the holder's"), holding the lock until `finish` is yielded;
    /// returns once the computation runs.
    func holdComputation(
        of key: String, in holder: TieredStore, counting computations: Counter
    ) async throws -> (computation: Task<String, any Error>, finish: AsyncStream<Void>.Continuation) {
        let (computing, finish) = AsyncStream<Void>.makeStream()
        let computation = Task {
            try await holder.getOrSet(key, as: String.self) {
                computations.increment()
                for await _ in computing { break }
                return "the holder's"
            }
        }
        try #require(try await eventually { computations.count == 1 }, "the holder computes, holding the lock")
        return (computation, finish)
    }

    @Test("a lock is released only by the token that holds it")
    func ownerOnlyRelease() async throws {
        let server = try await RedisTestServer()
        let lock = RedisComputeLock(redis: try RedisStore(url: server.unixURL))
        let token = try #require(try await lock.acquire("k", lease: .seconds(10)))
        #expect(try await lock.acquire("k", lease: .seconds(10)) == nil, "held")
        try await lock.release("k", token: "someone else's")
        #expect(try await lock.acquire("k", lease: .seconds(10)) == nil, "still held after a stranger's release")
        try await lock.release("k", token: token)
        #expect(try await lock.acquire("k", lease: .seconds(10)) != nil, "free after the owner's release")
    }
}

extension TieredStore.Configuration {
    /// A tiered store with the Redis compute lock, for tests of C3 on a loaded machine, where
    /// every bound C3 documents is far away: CI's all-traits run stalled for seconds and every
    /// lock test failed at once. L2 gets a minute of `l2Timeout` (a read past it skips the
    /// lock, by design); a waiter waits 45 s for the holder's value (`computeLockWait`, 5 s by
    /// default, after which it computes); the lock's lease, which runs from its acquisition
    /// through a holder held at a gate, lasts two minutes.
    static func lockTest(_ redis: RedisStore) -> TieredStore.Configuration {
        var configuration = TieredStore.Configuration(l2Timeout: .seconds(60), computeLock: RedisComputeLock(redis: redis))
        configuration.computeLockWait = .seconds(45)
        configuration.computeLockLease = .seconds(120)
        return configuration
    }
}

/// A waiter for the compute lock wakes on the holder's announced write (Docs/Coherence.md).
@Suite("Cross-process single flight: the holder's write wakes the waiters")
struct ComputeLockWakeTests {
    @Test(
        "with the invalidation bus, an instance waiting for another's computation returns its value when the write is announced, without polling (the poll set to an hour)",
        .timeLimit(.minutes(1)))
    func announcedWriteWakesWaiter() async throws {
        let server = try await RedisTestServer()
        func instance() throws -> (TieredStore, RedisInvalidationBus) {
            let redis = try RedisStore(url: server.unixURL)
            let bus = RedisInvalidationBus(redis: redis)
            var configuration = TieredStore.Configuration.lockTest(redis)
            configuration.invalidationPublisher = bus
            configuration.computeLockPollInterval = .seconds(3_600)
            configuration.computeLockWait = .seconds(600)  // so only the wake ends the wait within the test's limit
            return (TieredStore(l1: MemoryStore(), l2: redis, configuration: configuration), bus)
        }
        let (holder, _) = try instance()
        let (waiter, waiterBus) = try instance()
        let subscription = Task { try await waiterBus.run(delivering: waiter) }
        defer { subscription.cancel() }
        try #require(try await eventually(within: .seconds(10)) { waiterBus.isSubscribed })

        let (computing, finish) = AsyncStream<Void>.makeStream()
        let computations = Counter()
        async let held = holder.getOrSet("report", as: String.self) {
            computations.increment()
            for await _ in computing { break }
            return "the holder's"
        }
        try #require(try await eventually(within: .seconds(30)) { computations.count == 1 }, "the holder computes, holding the lock")
        async let waited = waiter.getOrSet("report", as: String.self) {
            computations.increment()
            return "the waiter's"
        }
        try #require(try await eventually(within: .seconds(30)) { waiter.changeSignals.parked == 1 }, "the waiter waits for the holder")
        finish.yield()
        #expect(try await held == "the holder's")
        #expect(try await waited == "the holder's", "woken by the announcement, it read the holder's value")
        #expect(computations.count == 1)
        #expect(waiter.changeSignals.count == 0)
        subscription.cancel()
        _ = await subscription.result
        try await holder.close()
        try await waiter.close()
    }

    @Test("a waiter never waits past computeLockWait, whatever the poll: it then computes without the lock", .timeLimit(.minutes(1)))
    func waitBoundedByComputeLockWait() async throws {
        let server = try await RedisTestServer()
        let redis = try RedisStore(url: server.unixURL)
        var configuration = TieredStore.Configuration.lockTest(redis)
        configuration.computeLockPollInterval = .seconds(3_600)
        configuration.computeLockWait = .milliseconds(300)
        let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: configuration)
        // Another holder's lock, held for a minute; no bus announces anything.
        try await server.cli("--quoted-input", "SET", #""\xffstrata:lock:held""#, "another-holder", "NX", "PX", "60000")
        #expect(try await cache.getOrSet("held", as: Int.self) { 7 } == 7, "computed without the lock after 300 ms")
        try await cache.close()
    }
}

/// A compute lock that counts the renewals asked of it, per key, and passes every call on.
final class CountingRenewals: ComputeLock {
    let lock: RedisComputeLock
    private let counts = Mutex<[String: Int]>([:])

    init(lock: RedisComputeLock) {
        self.lock = lock
    }

    func renewals(of key: String) -> Int { counts.withLock { $0[key, default: 0] } }

    func acquire(_ key: String, lease: Duration) async throws -> String? {
        try await lock.acquire(key, lease: lease)
    }

    func release(_ key: String, token: String) async throws {
        try await lock.release(key, token: token)
    }

    func renew(_ key: String, token: String, lease: Duration) async throws -> Bool {
        counts.withLock { $0[key, default: 0] += 1 }
        return try await lock.renew(key, token: token, lease: lease)
    }
}
