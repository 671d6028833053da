import Strata

/// A user's decorator: forwards every raw call, the records, the leases (unless told to
/// keep them in this process, as a store of your own on the default leases does) and
/// (unless told otherwise) the pipeline to its base. Subclasses change what a test needs
/// changed.
open class ForwardingStore: KeyValueStore, @unchecked Sendable {  // immutable after init
    public let base: any KeyValueStore
    let forwardsPipeline: Bool
    /// Whether `cachedValue` answers as the default does (a look at the pipeline's L1, when
    /// it is tiered), or `nil` without a look (a correct answer too).
    let forwardsCachedValue: Bool
    /// Whether the leases are this process's (the requirements' defaults), not the base's.
    let keepsLeasesInProcess: Bool

    public init(
        base: any KeyValueStore, forwardsPipeline: Bool = true, forwardsCachedValue: Bool = true, keepsLeasesInProcess: Bool = false
    ) {
        self.base = base
        self.forwardsPipeline = forwardsPipeline
        self.forwardsCachedValue = forwardsCachedValue
        self.keepsLeasesInProcess = keepsLeasesInProcess
        // Leases kept under this wrapper's name while its pipeline writes through the base
        // would never be broken by the base's changes.
        precondition(!keepsLeasesInProcess || !forwardsPipeline, "a wrapper that keeps its leases in this process keeps its own pipeline")
    }
    open var pipeline: Pipeline { forwardsPipeline ? base.pipeline : Pipeline(store: self) }
    open func cachedValue<Value: Codable & Sendable>(forKey key: String, as type: Value.Type, options: EntryOptions) throws -> Value? {
        // What the default answers (this store's pipeline's L1, a subclass's prefix included),
        // or `nil` without a look.
        forwardsCachedValue ? try pipeline.l1HitWithOptions(key, as: type, options: options) : nil
    }
    open var backendName: String { "Forwarding(\(base.backendName))" }
    open var clock: any StrataClock { base.clock }
    open func entry(forKey key: String) async throws -> StoredEntry? { try await base.entry(forKey: key) }
    open func setEntry(_ entry: StoredEntry, forKey key: String) async throws { try await base.setEntry(entry, forKey: key) }
    open func setEntryIfAbsent(_ entry: StoredEntry, forKey key: String) async throws -> Bool {
        try await base.setEntryIfAbsent(entry, forKey: key)
    }
    open func removeEntry(forKey key: String) async throws -> Bool { try await base.removeEntry(forKey: key) }
    open func setExpiration(_ expiresAt: Timestamp?, forKey key: String) async throws -> Bool {
        try await base.setExpiration(expiresAt, forKey: key)
    }
    open func incrementEntry(forKey key: String, by delta: Int, expiresAt: Timestamp?) async throws -> Int {
        try await base.incrementEntry(forKey: key, by: delta, expiresAt: expiresAt)
    }
    open func storedKeys(prefix: String) async throws -> [String] { try await base.storedKeys(prefix: prefix) }
    open func clear(prefix: String) async throws -> Int {
        defer { noteChange(under: prefix) }  // for this wrapper's flights, when it keeps its own pipeline
        return try await base.clear(prefix: prefix)
    }
    open func sweepExpired() async throws -> Int { try await base.sweepExpired() }
    open func close() async throws { try await base.close() }
    open func leaseEntry(forKey key: String, lease: EntryLease, duration: Duration) async throws -> StoredEntry? {
        guard !keepsLeasesInProcess else { return try await leaseEntryInProcess(forKey: key, lease: lease, duration: duration) }
        return try await base.leaseEntry(forKey: key, lease: lease, duration: duration)
    }
    open func setEntry(_ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool) async throws -> Bool {
        guard !keepsLeasesInProcess else {
            return try await setEntryInProcess(entry, forKey: key, ifLeased: lease, keepingLease: keepingLease)
        }
        return try await base.setEntry(entry, forKey: key, ifLeased: lease, keepingLease: keepingLease)
    }
    open func releaseLease(_ lease: EntryLease, forKey key: String) async throws {
        guard !keepsLeasesInProcess else { return releaseLeaseInProcess(lease, forKey: key) }
        try await base.releaseLease(lease, forKey: key)
    }
    open func records(named names: [String]) async throws -> [Int64] { try await base.records(named: names) }
    open func raiseRecord(named name: String, to value: Int64) async throws { try await base.raiseRecord(named: name, to: value) }
}
