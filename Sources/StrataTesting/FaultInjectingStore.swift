import Strata
import Synchronization

/// A store that passes every call to another store, except when told to fail or hang:
/// for testing how your code (or a `TieredStore`) behaves when its backend goes away.
///
/// ```swift
/// let l2 = FaultInjectingStore(wrapping: MemoryStore())
/// let cache = TieredStore(l1: MemoryStore(), l2: l2)
/// l2.inject(.fail, into: .reads)          // every read throws backendUnavailable
/// l2.inject(.hang, into: .all)            // every call waits until heal()
/// l2.heal()                               // back to normal; hanging calls throw
/// ```
public final class FaultInjectingStore: KeyValueStore {
    /// What a faulty call does.
    public enum Fault: Sendable, Equatable {
        /// Passes the call through.
        case none
        /// Throws a `StrataError` with code `backendUnavailable`.
        case fail
        /// Waits until ``FaultInjectingStore/heal()`` (then throws) or until the calling task is cancelled.
        case hang
        /// Waits this long, passes the call through, and waits as long again before
        /// returning its answer, like a backend across a network in both directions.
        case delay(Duration)
        /// Waits until ``FaultInjectingStore/resume()``, then passes the call through: a
        /// call held in flight (past a caller's timeout, say) that lands later.
        case pause
    }

    /// Which calls a fault applies to.
    public struct Operations: OptionSet, Sendable {
        /// The raw value.
        public let rawValue: Int
        /// Creates a set of operations.
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// `entry`, `containsEntry`, `storedKeys`, `storedEntries`, `entries(forKeys:)`,
        /// `leaseEntry` (a lease is taken with a read), `records`, and the reads of values
        /// without their lifetimes that a `RedisStore` offers, and so the typed reads built on
        /// them (`get`, `keys`…).
        public static let reads = Operations(rawValue: 1)
        /// Every call that changes the store.
        public static let writes = Operations(rawValue: 2)
        /// Every call.
        public static let all: Operations = [.reads, .writes]
    }

    /// Which faults' calls wait: until `resume()` (paused) or `heal()` (hanging).
    private enum Suspended: Sendable { case paused, hanging }

    private struct State {
        var readFault = Fault.none
        var writeFault = Fault.none
        var hanging: [Int: CheckedContinuation<Void, any Error>] = [:]
        var paused: [Int: CheckedContinuation<Void, any Error>] = [:]
        var nextHang = 0

        /// The calls suspended by one fault.
        subscript(_ calls: Suspended) -> [Int: CheckedContinuation<Void, any Error>] {
            get { calls == .paused ? paused : hanging }
            set { if calls == .paused { paused = newValue } else { hanging = newValue } }
        }
        var calls = 0
        var failures = 0
        /// With ``FaultInjectingStore/failWrites(afterKeys:)``: how many keys may still be written.
        var keysBeforeFailure: Int?
    }

    /// The store the calls pass through to.
    public let base: any KeyValueStore
    private let state: Lock<State>

    /// A store that passes calls to `base` until told otherwise.
    public init(wrapping base: any KeyValueStore) {
        self.base = base
        self.state = Lock(State())
    }

    /// A store that shares `injector`'s faults and counts, passing calls to `base`.
    private init(sharing injector: FaultInjectingStore, wrapping base: any KeyValueStore) {
        self.base = base
        self.state = injector.state
    }

    /// The typed API's path: over a tiered store, its L1, lock and bus are kept and the
    /// faults reach its L2 calls (as if this store wrapped L2); over any other store, this
    /// store alone, so every typed call meets the faults.
    public var pipeline: Pipeline {
        let inner = base.pipeline
        guard inner.tiered != nil else { return Pipeline(store: self) }
        return inner.replacingSource(FaultInjectingStore(sharing: self, wrapping: inner.source))
    }

    /// The base store's value format: values are written and read as the base's would be.
    public var valueFormat: ValueFormat { base.valueFormat }

    /// Makes `operations` behave as `fault` from now on.
    ///
    /// ```swift
    /// faulty.inject(.delay(.seconds(1)), into: .writes)
    /// ```
    public func inject(_ fault: Fault, into operations: Operations = .all) {
        state.withLock { state in
            if operations.contains(.reads) { state.readFault = fault }
            if operations.contains(.writes) { state.writeFault = fault }
        }
    }

    /// Removes every fault; calls that were hanging throw `backendUnavailable`.
    public func heal() {
        let hanging = state.withLock { state in
            state.readFault = .none
            state.writeFault = .none
            state.keysBeforeFailure = nil
            defer { state.hanging = [:] }
            return state.hanging
        }
        let error = unavailable("the call hung until the store was healed")
        SanitizerHandOff.handOff(through: self)  // the error, also to a call not suspended yet
        for continuation in hanging.values { continuation.resume(throwing: error) }
    }

    /// Lets the next `count` keys written pass, then fails every write as ``Fault/fail``
    /// does, until ``heal()``: a write of one key counts one, every other change (a `clear`,
    /// a sweep, a record) one, a bulk write one a key. A bulk write that crosses the count
    /// writes its first keys in their byte order (through the base store's own batch) and
    /// throws `backendUnavailable` naming the next key, with those keys as
    /// `StrataError.writtenKeys`: a backend that refused the batch part-way.
    ///
    /// ```swift
    /// faulty.failWrites(afterKeys: 2)
    /// try await faulty.setEntries(batch)   // throws; error.writtenKeys holds the first 2 keys
    /// ```
    public func failWrites(afterKeys count: Int) {
        state.withLock { $0.keysBeforeFailure = max(0, count) }
    }

    /// Lets every paused call through, and ends the `pause` fault.
    ///
    /// ```swift
    /// faulty.inject(.pause, into: .writes)
    /// ...                                   // a write is now in flight
    /// faulty.resume()                       // it lands
    /// ```
    public func resume() {
        let paused = state.withLock { state in
            if state.readFault == .pause { state.readFault = .none }
            if state.writeFault == .pause { state.writeFault = .none }
            defer { state.paused = [:] }
            return state.paused
        }
        SanitizerHandOff.handOff(through: self)  // also to a call not suspended yet
        for continuation in paused.values { continuation.resume() }
    }

    /// How many calls are paused now.
    public var pausedCalls: Int { state.withLock { $0.paused.count } }

    /// How many calls reached this store, and how many of them failed by injection.
    public var counts: (calls: Int, injectedFailures: Int) {
        state.withLock { ($0.calls, $0.failures) }
    }

    private func unavailable(_ message: String) -> StrataError {
        StrataError(code: .backendUnavailable, message: message, backend: backendName)
    }

    /// Runs `call` behind the fault for `operation`.
    func gated<Output>(_ operation: Operations, _ call: () async throws -> Output) async throws -> Output {
        try await gate(operation)
        return try await delayed(operation, call)
    }

    /// Runs `call`, then waits as long again as a `delay` fault for `operation` says.
    private func delayed<Output>(_ operation: Operations, _ call: () async throws -> Output) async throws -> Output {
        let result = try await call()
        if case .delay(let duration) = state.withLock({ operation == .reads ? $0.readFault : $0.writeFault }) {
            try await Task.sleep(for: duration)
        }
        return result
    }

    /// Applies the fault for `operation` to a call of `keys` keys; how many of them may
    /// pass (all but with ``failWrites(afterKeys:)``; a call none of which may pass throws).
    @discardableResult
    private func gate(_ operation: Operations, keys: Int = 1) async throws -> Int {
        let (fault, allowed) = state.withLock { state in
            state.calls += 1
            var allowed = keys
            if operation == .writes, let left = state.keysBeforeFailure {
                allowed = min(left, keys)
                state.keysBeforeFailure = left - allowed
                if allowed == 0 { state.failures += 1 }
            }
            return (operation == .reads ? state.readFault : state.writeFault, allowed)
        }
        if allowed == 0, keys > 0 { throw unavailable("injected failure: the writes allowed were used up") }
        switch fault {
        case .none:
            break
        case .fail:
            state.withLock { $0.failures += 1 }
            throw unavailable("injected failure")
        case .delay(let duration):
            try await Task.sleep(for: duration)
        case .pause:
            try await suspend(.paused)
        case .hang:
            try await suspend(.hanging)
        }
        return allowed
    }

    /// Suspends the call in `calls` (the paused or the hanging ones) until `resume()` or
    /// `heal()` resumes it, or its task is cancelled.
    private func suspend(_ calls: Suspended) async throws {
        let id = state.withLock { state in
            state.nextHang += 1
            return state.nextHang
        }
        defer { SanitizerHandOff.receive(through: self) }  // see resume() and heal()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled = state.withLock { state in
                    if Task.isCancelled { return true }
                    state[calls][id] = continuation
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            state.withLock { $0[calls].removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    /// `FaultInjectingStore(<base>)`.
    public var backendName: String { "FaultInjectingStore(\(base.backendName))" }
    /// The base store's default lifetime.
    public var defaultExpiry: Expiry? { base.defaultExpiry }
    /// The base store's clock.
    public var clock: any StrataClock { base.clock }

    /// Passes through, or fails as injected.
    public func entry(forKey key: String) async throws -> StoredEntry? {
        try await gated(.reads) { try await base.entry(forKey: key) }
    }
    /// Passes through, or fails as injected.
    public func containsEntry(forKey key: String) async throws -> Bool {
        try await gated(.reads) { try await base.containsEntry(forKey: key) }
    }
    /// Passes through, or fails as injected.
    public func storedKeys(prefix: String) async throws -> [String] {
        try await gated(.reads) { try await base.storedKeys(prefix: prefix) }
    }
    /// Passes through, or fails as injected.
    public func storedEntries(prefix: String) async throws -> [(key: String, entry: StoredEntry)] {
        try await gated(.reads) { try await base.storedEntries(prefix: prefix) }
    }
    /// Passes through, or fails as injected.
    public func setEntry(_ entry: StoredEntry, forKey key: String) async throws {
        try await gated(.writes) { try await base.setEntry(entry, forKey: key) }
    }
    /// Passes through, or fails as injected.
    public func setEntryIfAbsent(_ entry: StoredEntry, forKey key: String) async throws -> Bool {
        try await gated(.writes) { try await base.setEntryIfAbsent(entry, forKey: key) }
    }
    /// Passes through, or fails as injected.
    @discardableResult
    public func removeEntry(forKey key: String) async throws -> Bool {
        try await gated(.writes) { try await base.removeEntry(forKey: key) }
    }
    /// Passes through, or fails as injected.
    public func setExpiration(_ expiresAt: Timestamp?, forKey key: String) async throws -> Bool {
        try await gated(.writes) { try await base.setExpiration(expiresAt, forKey: key) }
    }
    /// Passes through, or fails as injected.
    public func incrementEntry(forKey key: String, by delta: Int, expiresAt: Timestamp?) async throws -> Int {
        try await gated(.writes) { try await base.incrementEntry(forKey: key, by: delta, expiresAt: expiresAt) }
    }
    /// Passes through, or fails as injected.
    @discardableResult
    public func clear(prefix: String) async throws -> Int {
        defer { noteChange(under: prefix) }  // once cleared: flights of its keys are overtaken (C1, R1)
        return try await gated(.writes) { try await base.clear(prefix: prefix) }
    }
    /// Passes through, or fails as injected.
    @discardableResult
    public func sweepExpired() async throws -> Int {
        try await gated(.writes) { try await base.sweepExpired() }
    }
    /// Passes through, or fails as injected (a lease is taken with a read).
    public func leaseEntry(forKey key: String, lease: EntryLease, duration: Duration) async throws -> StoredEntry? {
        try await gated(.reads) { try await base.leaseEntry(forKey: key, lease: lease, duration: duration) }
    }
    /// Passes through, or fails as injected.
    public func setEntry(_ entry: StoredEntry, forKey key: String, ifLeased lease: EntryLease, keepingLease: Bool) async throws -> Bool {
        try await gated(.writes) { try await base.setEntry(entry, forKey: key, ifLeased: lease, keepingLease: keepingLease) }
    }
    /// Passes through, or fails as injected.
    public func releaseLease(_ lease: EntryLease, forKey key: String) async throws {
        try await gated(.writes) { try await base.releaseLease(lease, forKey: key) }
    }
    /// Passes through, or fails as injected.
    public func records(named names: [String]) async throws -> [Int64] {
        try await gated(.reads) { try await base.records(named: names) }
    }
    /// Passes through, or fails as injected.
    public func raiseRecord(named name: String, to value: Int64) async throws {
        try await gated(.writes) { try await base.raiseRecord(named: name, to: value) }
    }
    /// Passes through as one batch of the base store, or fails as injected.
    public func entries(forKeys keys: [String]) async throws -> [String: StoredEntry] {
        try await gated(.reads) { try await base.entries(forKeys: keys) }
    }
    /// Passes through as one batch of the base store, or fails as injected: wholly (empty
    /// `writtenKeys`), or part-way with ``failWrites(afterKeys:)``.
    public func setEntries(_ entries: [String: StoredEntry]) async throws {
        let keys = BulkKeys.byteOrdered(entries.keys)
        let allowed: Int
        do {
            allowed = try await gate(.writes, keys: keys.count)
        } catch {
            throw BulkKeys.partialWrite(error, written: [], key: keys.first ?? "", backend: backendName)
        }
        let passing = Array(keys.prefix(allowed))
        try await delayed(.writes) {
            try await base.setEntries(
                allowed == keys.count ? entries : Dictionary(uniqueKeysWithValues: passing.map { ($0, entries[$0]!) }))
        }
        guard allowed < keys.count else { return }
        throw BulkKeys.partialWrite(
            unavailable("injected failure after \(allowed) keys"), written: passing, key: keys[allowed], backend: backendName)
    }
    /// Passes through as one batch of the base store, or fails as injected (with
    /// ``failWrites(afterKeys:)``, after removing the keys allowed, in the order given).
    @discardableResult
    public func removeEntries(forKeys keys: [String]) async throws -> Int {
        let allowed = try await gate(.writes, keys: keys.count)
        let removed = try await delayed(.writes) { try await base.removeEntries(forKeys: Array(keys.prefix(allowed))) }
        guard allowed < keys.count else { return removed }
        throw StrataError(
            code: .backendUnavailable, message: "injected failure after \(allowed) keys", key: keys[allowed], backend: backendName)
    }
    /// Closes the base store (never faulty).
    public func close() async throws {
        try await base.close()
    }
}
