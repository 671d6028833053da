import Strata

/// Reads without lifetimes pass through as the base store makes them, so that a store under
/// test sends what it sends in production (a `RedisStore`'s typed get is `GET` alone) and
/// faults injected into reads apply to them as to every read.
extension FaultInjectingStore: ValueOnlySource {
    /// Passes through (as the base store's `entry(forKey:)` when it reads lifetimes with its
    /// values), or fails as injected.
    package func entryWithoutLifetime(forKey key: String) async throws -> StoredEntry? {
        try await gated(.reads) {
            if let reader = base as? any ValueOnlySource { return try await reader.entryWithoutLifetime(forKey: key) }
            return try await base.entry(forKey: key)
        }
    }

    /// Passes through as one batch of the base store, or fails as injected.
    package func entriesWithoutLifetimes(forKeys keys: [String]) async throws -> [StoredEntry?] {
        try await gated(.reads) {
            if let reader = base as? any ValueOnlySource { return try await reader.entriesWithoutLifetimes(forKeys: keys) }
            let found = try await base.entries(forKeys: keys)
            return keys.map { found[$0] }
        }
    }
}
