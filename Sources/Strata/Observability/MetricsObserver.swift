#if Metrics
import CoreMetrics

/// Counts a tiered store's events and times them, with swift-metrics:
/// `strata_tiered_events_total` (a counter) and `strata_tiered_event_duration` (a timer,
/// for events that were timed), each with the dimensions `store`, `tier` and `event`.
/// The metrics are made once, so an event costs a dictionary-free array lookup.
struct MetricsObserver: TieredStoreObserver {
    static let kinds: [TieredStore.Event.Kind] = [
        .hit, .miss, .fill, .write, .invalidate, .compute, .undecodable, .failure, .timeout, .remoteInvalidation,
    ]
    private let counters: [[Counter]]  // [tier][kind]
    private let timers: [[Timer]]

    init(_ reporting: MetricsReporting) {
        let factory = reporting.resolvedFactory
        func dimensions(_ tier: TieredStore.Event.Tier, _ kind: TieredStore.Event.Kind) -> [(String, String)] {
            [("store", reporting.name), ("tier", tier.rawValue), ("event", kind.name)]
        }
        let tiers: [TieredStore.Event.Tier] = [.l1, .l2]
        counters = tiers.map { tier in
            Self.kinds.map { Counter(label: "strata_tiered_events_total", dimensions: dimensions(tier, $0), factory: factory) }
        }
        timers = tiers.map { tier in
            Self.kinds.map { Timer(label: "strata_tiered_event_duration", dimensions: dimensions(tier, $0), factory: factory) }
        }
    }

    func observe(_ event: TieredStore.Event) {
        guard let kind = Self.kinds.firstIndex(of: event.kind) else { return }
        let tier = event.tier == .l1 ? 0 : 1
        counters[tier][kind].increment()
        if event.duration > .zero {
            let (seconds, attoseconds) = event.duration.components
            timers[tier][kind].recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
    }
}
#endif
