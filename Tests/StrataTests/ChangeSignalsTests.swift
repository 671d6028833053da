import StrataTesting
import Testing

@testable import Strata

/// The signals that wake a `getOrSet` waiting for another instance's computation.
@Suite("ChangeSignals")
struct ChangeSignalsTests {
    @Test(
        "a key changed after the signal was armed, before the wait, ends the wait at once; another key's change does not",
        .timeLimit(.minutes(1)))
    func signalBeforeWait() async {
        let signals = ChangeSignals()
        let waiting = signals.arm(ByteKey("k"))
        let other = signals.arm(ByteKey("other"))
        signals.signal(ByteKey("k"))
        #expect(signals.armed == 1, "the other key's signal is still armed, k's is signalled")
        await signals.wait(waiting, atMost: .seconds(3_600))  // returns: the test's limit is a minute
        #expect(signals.count == 1 && signals.armed == 1, "the other key's signal is still armed")
        signals.disarm(other)
        #expect(signals.count == 0)
    }

    @Test("a wait ends when its key changes, or when anything does (a prefix, everything)", .timeLimit(.minutes(1)))
    func signalWhileWaiting() async throws {
        let signals = ChangeSignals()
        for wakeAll in [false, true] {
            let signal = signals.arm(ByteKey("k"))
            async let waited: Void = signals.wait(signal, atMost: .seconds(3_600))
            try #require(try await eventually { signals.parked == 1 }, "the waiter parked")
            if wakeAll { signals.signalAll() } else { signals.signal(ByteKey("k")) }
            await waited
            #expect(signals.count == 0, "nothing left behind")
        }
    }

    @Test("a cancelled wait ends at once; a wait ends at its timeout", .timeLimit(.minutes(1)))
    func cancelAndTimeout() async throws {
        let signals = ChangeSignals()
        let signal = signals.arm(ByteKey("k"))
        let waiter = Task { await signals.wait(signal, atMost: .seconds(3_600)) }
        try #require(try await eventually { signals.parked == 1 })
        waiter.cancel()
        await waiter.value
        await signals.wait(signals.arm(ByteKey("k")), atMost: .milliseconds(1))
        #expect(signals.count == 0)
    }

    @Test(
        "a TieredStore wakes its waiters on another instance's change of their key, of a prefix or of everything, and when it closes; not on another key's",
        .timeLimit(.minutes(1)))
    func tieredStoreSignals() async throws {
        let cache = TieredStore(l1: MemoryStore(), l2: MemoryStore())
        let signals = cache.changeSignals
        let key = signals.arm(ByteKey("user:1"))
        cache.applyRemoteInvalidation(.key("user:2"))
        #expect(signals.armed == 1, "another key's change")
        cache.applyRemoteInvalidation(.key("user:1"))
        #expect(signals.armed == 0, "its key's change")
        signals.disarm(key)
        for invalidation in [Invalidation.prefix("team:"), .everything] {
            let armed = signals.arm(ByteKey("user:1"))
            cache.applyRemoteInvalidation(invalidation)
            #expect(signals.armed == 0, "\(invalidation) wakes every waiter")
            signals.disarm(armed)
        }
        let open = signals.arm(ByteKey("user:1"))
        try await cache.close()
        #expect(signals.armed == 0, "close wakes every waiter")
        signals.disarm(open)
    }
}
