/// The one path every typed call takes through a store: a read (L1, then the store that
/// holds the entries, then a copy into L1), a computation (single flight, the compute lock,
/// a lease, timeouts, grace, tags, eager refresh, fail-safe) and a write (the write tracker,
/// a leased write for computed values, the announcement to other instances).
///
/// A store reaches it through ``KeyValueStore/pipeline``, the protocol's customization point:
/// a store of one tier uses the default (the store alone); a ``TieredStore`` gives its L1 and
/// its L2; a ``PrefixedStore`` gives its base's, with its prefix; a wrapper of your own
/// forwards its base's to keep the base's tiered behaviour (or keeps the default, and then
/// the typed API sees only the wrapper's raw calls).
///
/// ```swift
/// final class LoggingStore: KeyValueStore {
///     let base: any KeyValueStore
///     var pipeline: Pipeline { base.pipeline }   // typed calls keep base's L1, lock and bus
///     ...
/// }
/// ```
public struct Pipeline: Sendable {
    /// The tiered store whose L1, tracker, tag table, configuration and observers the path
    /// uses; `nil` for a store of one tier.
    @usableFromInline
    package let tiered: TieredStore?
    /// Where entries live: L2 of a tiered store, or the store itself.
    @usableFromInline
    package let source: any KeyValueStore
    /// The source when it is a memory store, whose entries keep their Swift values.
    @usableFromInline
    let memory: MemoryStore?
    /// Prepended to every key (a prefixed view's prefix).
    @usableFromInline
    package let keyPrefix: String

    /// The path of a store of one tier: its own raw calls.
    ///
    /// ```swift
    /// var pipeline: Pipeline { Pipeline(store: self) }
    /// ```
    public init(store: some KeyValueStore) {
        self.init(tiered: nil, source: store, memory: nil, keyPrefix: "")
    }

    @inlinable  // built in place in a caller specialized for the store (see TieredStore.pipeline)
    init(tiered: TieredStore?, source: any KeyValueStore, memory: MemoryStore?, keyPrefix: String) {
        self.tiered = tiered
        self.source = source
        self.memory = memory
        self.keyPrefix = keyPrefix
    }

    /// The same path with every key under `prefix` (a prefixed view's).
    ///
    /// ```swift
    /// var pipeline: Pipeline { base.pipeline.prefixed("tenant:7:") }
    /// ```
    public func prefixed(_ prefix: String) -> Pipeline {
        Pipeline(tiered: tiered, source: source, memory: memory, keyPrefix: keyPrefix + prefix)
    }

    /// The same path over `source` in place of the entries' store (a fault injector keeps a
    /// tiered store's L1 while its faults reach the L2 calls).
    package func replacingSource(_ source: any KeyValueStore) -> Pipeline {
        Pipeline(tiered: tiered, source: source, memory: nil, keyPrefix: keyPrefix)
    }

    /// The store the path belongs to, for names and clocks: the tiered store, or the source.
    var store: any KeyValueStore { tiered ?? source }

    var backendName: String { store.backendName }

    /// The clock lifetimes are measured with (L2's, for a tiered store).
    var clock: any StrataClock { source.clock }

    /// Single flight is per store and key: every view of one store shares it.
    package var flightScope: ObjectIdentifier { tiered.map(ObjectIdentifier.init) ?? ObjectIdentifier(source) }

    /// The clock that orders this store's tag invalidations against its writes.
    var hybridClock: HybridClock { tiered?.hybridClock ?? HybridClock.of(source) }

    /// The entry options a call's options are merged with.
    var defaultOptions: EntryOptions { store.entryOptions }

    /// How values become bytes on this path: the tiered store's format, or the source's.
    var valueFormat: ValueFormat { store.valueFormat }

    /// `value`'s bytes in this path's format.
    func encode<Value: Encodable>(_ value: Value, key: String) throws -> [UInt8] {
        try ValueCoding.encode(value, key: callerKey(key), backend: backendName, format: valueFormat)
    }
}

extension KeyValueStore {
    /// This store alone: every typed call reads, computes and writes through its raw calls.
    public var pipeline: Pipeline { Pipeline(store: self) }
}
