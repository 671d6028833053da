import Foundation
import Strata
import StrataTestSupport
import StrataTesting
import Testing

@testable import StrataRedis

/// Keys announced together go out as one message (Docs/Scaling.md), in order with the
/// announcements around them; a message this version cannot read drops all of L1.
@Suite("RedisInvalidationBus: coalesced announcements")
struct BusCoalescingTests {
    @Test(
        "a burst of keys reaches another instance whole and in order, around a prefix, in far fewer messages",
        .timeLimit(.minutes(1)))
    func coalesced() async throws {
        let server = try await RedisTestServer()
        let publisher = RedisInvalidationBus(redis: try RedisStore(url: server.unixURL))
        let listener = try await RecordingListener.subscribed(to: server)
        defer { listener.stop() }

        let before = (0..<1_000).map { "key:\($0)" }
        let after = (1_000..<2_000).map { "key:\($0)" }
        for key in before { await publisher.publish(.key(key)) }
        await publisher.publish(.prefix("user:"))
        for key in after { await publisher.publish(.key(key)) }
        let expected = before.map(Invalidation.key) + [.prefix("user:")] + after.map(Invalidation.key)
        #expect(try await eventually(within: .seconds(20)) { received(listener.recorder).count == expected.count })
        #expect(received(listener.recorder) == expected, "every announcement, in the order queued")
        let messages = publisher.messagesPublished
        print("coalesced announcements: \(expected.count) announcements went out in \(messages) messages")
        #expect(messages < expected.count / 2, "\(messages) messages for \(expected.count) announcements")
        #expect(publisher.failedPublishes == 0)
    }

    @Test("with coalescing off (a rolling deploy from an older version), one message per key", .timeLimit(.minutes(1)))
    func notCoalesced() async throws {
        let server = try await RedisTestServer()
        let publisher = try RedisInvalidationBus(
            redis: try RedisStore(url: server.unixURL), configuration: .init(coalescesKeys: false))
        for index in 0..<300 { await publisher.publish(.key("key:\(index)")) }
        await publisher.close()
        #expect(publisher.messagesPublished == 300)
    }

    @Test("messages: keys with any bytes round-trip; own ones are skipped; unreadable ones drop everything")
    func decoding() {
        let me = [UInt8](repeating: 7, count: 16)
        let other = [UInt8](repeating: 9, count: 16)
        let keys = ["a", "é \0 x", String(repeating: "z", count: KeyRules.maximumKeyBytes)]
        #expect(
            RedisInvalidationBus.decode(RedisInvalidationBus.encode(keys: keys, from: other), ignoring: me) == keys.map(Invalidation.key))
        #expect(RedisInvalidationBus.decode(RedisInvalidationBus.encode(keys: keys, from: me), ignoring: me).isEmpty)
        var truncated = RedisInvalidationBus.encode(keys: keys, from: other)
        truncated.removeLast()
        #expect(RedisInvalidationBus.decode(truncated, ignoring: me) == [.everything])
        #expect(RedisInvalidationBus.decode([2] + other + Array("Knew".utf8), ignoring: me) == [.everything], "a later version's")
        #expect(RedisInvalidationBus.decode([1] + other + Array("?".utf8), ignoring: me) == [.everything], "an unknown kind")
        #expect(RedisInvalidationBus.decode(Array("hello".utf8), ignoring: me) == [.everything], "not a bus message")
        #expect(RedisInvalidationBus.decode(RedisInvalidationBus.encode(.prefix("p"), from: other), ignoring: me) == [.prefix("p")])
        // A key longer than its 2-byte length holds (behind a prefixed view's long prefix):
        // everything, never keys read from the wrong bytes. This one's length wraps to 3, and
        // its bytes after "abc" read as 16,384 frames of the key "xy".
        let long = ["a", "abc" + String(repeating: "\u{0}\u{2}xy", count: 16_384), "b"]
        #expect(RedisInvalidationBus.decode(RedisInvalidationBus.encode(keys: long, from: other), ignoring: me) == [.everything])
    }

    private func received(_ recorder: DeliveryRecorder) -> [Invalidation] {
        recorder.calls.compactMap { call -> Invalidation? in
            guard case .invalidation(let invalidation) = call, invalidation != .everything else { return nil }
            return invalidation
        }
    }
}
