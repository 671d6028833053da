import Strata

/// R4 at the end of a history: once every call has completed, each tiered instance's L1
/// holds L2's entry for a key, byte for byte, or nothing. The reads the checker explains
/// cannot show this: two overlapping writes may be ordered either way, so a read of either
/// is explained, yet an L1 left on the one that did not land last serves it for as long as
/// the copy lives, where L2 (and every other instance) holds the other.
extension ConsistencyHistory {
    /// The keys on which an instance's L1 disagrees with its L2, as violations; `waiting` is
    /// how long another instance's change may take to arrive (the bus's delivery bound), so a
    /// disagreement is reported only if it outlasts it.
    ///
    /// ```swift
    /// let violations = try await ConsistencyHistory.l1Disagreements(in: [cache], waiting: .seconds(2))
    /// ```
    package static func l1Disagreements(in instances: [any KeyValueStore], waiting: Duration) async throws -> [String] {
        let deadline = ContinuousClock.now + waiting
        while true {
            let found = try await currentL1Disagreements(in: instances)
            if found.isEmpty || ContinuousClock.now >= deadline { return found }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The longest `undeliveredL1Expiry` of the tiered instances: a copy made while a bus
    /// was not live (or before it first subscribed) may outlive the delivery bound that long.
    static func longestUndeliveredL1Expiry(of instances: [any KeyValueStore]) -> Duration {
        instances.compactMap { $0.pipeline.tiered?.configuration.undeliveredL1Expiry.duration }.max() ?? .zero
    }

    private static func currentL1Disagreements(in instances: [any KeyValueStore]) async throws -> [String] {
        var found: [String] = []
        for (index, store) in instances.enumerated() {
            let pipeline = store.pipeline
            guard let tiered = pipeline.tiered else { continue }
            for key in keys {
                let stored = pipeline.keyPrefix + key
                guard let copy = try await tiered.l1.entry(forKey: stored) else { continue }
                let inL2 = try await tiered.l2.entry(forKey: stored)
                guard inL2?.bytes != copy.bytes else { continue }
                found.append(
                    "R4: instance \(index)'s L1 holds \(describe(copy.bytes)) for \(stored.debugDescription) once every call completed, "
                        + "where its L2 holds \(inL2.map { describe($0.bytes) } ?? "nothing")")
            }
        }
        return found
    }

    private static func describe(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self).debugDescription
    }
}
