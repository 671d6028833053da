/// Which entry a bounded ``MemoryStore`` evicts when a write passes its bounds.
///
/// ``windowTinyLFU`` (the default) keeps the entries that are asked for again and again:
/// on skewed traffic with one-off scans, and on loops a little larger than the store, it
/// keeps far more hits than ``lru`` (see the hit-ratio figures in the benchmarks guide).
/// ``lru`` evicts exactly the least recently used entry.
///
/// ```swift
/// var configuration = MemoryStore.Configuration(maxEntries: 10_000)
/// configuration.evictionPolicy = .lru
/// let memory = MemoryStore(configuration: configuration)
/// ```
public struct EvictionPolicy: Sendable, Hashable, CustomStringConvertible {
    let name: String

    /// The least recently used entry goes.
    public static let lru = EvictionPolicy(name: "lru")
    /// W-TinyLFU, as Caffeine does it: new entries enter a small LRU window; an entry
    /// leaving it is admitted to the main space only if it was asked for more often
    /// recently (a count-min sketch of requests, counted from when each shard of the store
    /// first fills or evicts: until then every entry is admitted) than the entry it would
    /// replace. The window's size follows the traffic: it grows while an entry of the window
    /// earns more hits than one of the main space (keys asked for again soon after they are
    /// new), and shrinks while it earns fewer.
    public static let windowTinyLFU = EvictionPolicy(name: "windowTinyLFU")

    /// `lru` or `windowTinyLFU`.
    public var description: String { name }
}
