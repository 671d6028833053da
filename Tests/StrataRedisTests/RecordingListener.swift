import Strata
import StrataTestSupport
import StrataTesting
import Testing

@testable import StrataRedis

/// Records what a bus delivers, in order.
final class DeliveryRecorder: InvalidationSubscriber {
    enum Call: Equatable {
        case invalidation(Invalidation)
        case live(Bool)
    }

    private let recorded = Lock<[Call]>([])
    var calls: [Call] { recorded.withLock { $0 } }
    var keys: [String] {
        calls.compactMap { if case .invalidation(.key(let key)) = $0 { key } else { nil } }
    }

    func applyRemoteInvalidation(_ invalidation: Invalidation) { recorded.withLock { $0.append(.invalidation(invalidation)) } }
    func invalidationDeliveryChanged(isLive: Bool) { recorded.withLock { $0.append(.live(isLive)) } }
}

/// A bus subscribed to a test server that records what it delivers: the other end of a
/// test that publishes from a bus of its own and checks what arrived.
struct RecordingListener {
    let bus: RedisInvalidationBus
    let recorder: DeliveryRecorder
    let subscription: Task<Void, any Error>

    /// The keys delivered so far, in order.
    var keys: [String] { recorder.keys }

    /// A listener on `server`, returned once its subscription is confirmed.
    static func subscribed(to server: RedisTestServer) async throws -> RecordingListener {
        let bus = RedisInvalidationBus(redis: try RedisStore(url: server.unixURL))
        let recorder = DeliveryRecorder()
        let listener = RecordingListener(bus: bus, recorder: recorder, subscription: Task { try await bus.run(delivering: recorder) })
        try #require(try await eventually(within: .seconds(10)) { bus.isSubscribed }, "the listener subscribed")
        return listener
    }

    /// Ends the subscription.
    func stop() { subscription.cancel() }
}
