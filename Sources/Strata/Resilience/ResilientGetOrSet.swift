import Synchronization

/// `getOrSet` with ``EntryOptions``: fail-safe grace, computation timeouts, eager refresh
/// and adaptive options, over any ``ResilientStorage``.
enum ResilientGetOrSet {
    /// The entry to store for `value` written at `now` with `options`: a plain entry
    /// when no option needs metadata, else an envelope kept until its grace ends.
    static func entry<Value: Codable & Sendable>(
        for value: Value, options: EntryOptions, now: Timestamp, in store: any KeyValueStore, key: String
    ) throws -> (StoredEntry, EntryEnvelope?) {
        // The options a computation chose (ComputeContext) are checked here, as the call's were.
        try options.validate(key: key, backend: store.backendName)
        let payload = try ValueCoding.encode(value, key: key, backend: store.backendName)
        let expiresAt = store.deadline(for: options.expires)
        guard options.needsEnvelope || EntryEnvelope.hasMagic(payload) else {
            return (StoredEntry(bytes: payload, expiresAt: expiresAt), nil)
        }
        let envelope = EntryEnvelope(
            expiresAt: expiresAt?.millisecondsSince1970 ?? Int64.max, writtenAt: now.millisecondsSince1970,
            tags: options.tags ?? [])
        var keptUntil = expiresAt
        if let expiresAt, let grace = options.grace {
            keptUntil = grace.milliseconds.map { expiresAt.adding(milliseconds: $0) }
        }
        return (StoredEntry(bytes: envelope.encode(payload: payload), expiresAt: keptUntil), envelope)
    }

    static func run<Value: Codable & Sendable>(
        _ storage: some ResilientStorage, key: String, as type: Value.Type, options: EntryOptions,
        compute: @escaping @Sendable (ComputeContext<Value>) async throws -> Value
    ) async throws -> Value {
        let store = storage.store
        var found: StoredValue<Value>?
        do {
            found = try await storage.read(key, as: type)
        } catch let error as StrataError where error.code == .closed {
            throw error
        } catch {
            found = nil  // the store failed: compute, as a plain getOrSet does
        }
        if let found, found.isFresh(nowMilliseconds: store.clock.now().millisecondsSince1970) {
            refreshAheadIfDue(storage, key: key, found: found, options: options, compute: compute)
            return found.value
        }
        return try await SingleFlight.shared.run(scope: ObjectIdentifier(store), key: key) {
            var kept = found
            // A flight that finished just before this one began may have stored it.
            if let again = try? await storage.read(key, as: type) {
                if again.isFresh(nowMilliseconds: store.clock.now().millisecondsSince1970) { return again.value }
                kept = again
            }
            return try await computeGuarded(storage, key: key, options: options, kept: kept, compute: compute)
        }
    }

    /// Runs the computation with the options' timeouts; falls back to `kept` when it fails
    /// or times out.
    static func computeGuarded<Value: Codable & Sendable>(
        _ storage: some ResilientStorage, key: String, options: EntryOptions, kept: StoredValue<Value>?,
        compute: @escaping @Sendable (ComputeContext<Value>) async throws -> Value
    ) async throws -> Value {
        let store = storage.store
        let context = ComputeContext(
            staleValue: kept?.value,
            staleWrittenAt: kept?.envelope.map { Timestamp(millisecondsSince1970: $0.writtenAt) },
            options: options)
        let abandoned = Atomic<Bool>(false)
        let hadValue = kept != nil
        // The computation and its write run in a task of their own, so that a caller who
        // stops waiting (a timeout) does not stop the value from landing.
        let work = Task {
            let value = try await compute(context)
            storage.report(.compute, key, error: nil)
            if abandoned.load(ordering: .acquiring) {
                // Late: keep what was written or invalidated meanwhile.
                let now = try? await storage.read(key, as: Value.self)
                if let now, now.isFresh(nowMilliseconds: store.clock.now().millisecondsSince1970) { return value }
                if now == nil && hadValue { return value }
            }
            let (entry, envelope) = try entry(for: value, options: context.options, now: store.clock.now(), in: store, key: key)
            try await storage.write(key, value, entry, envelope)
            return value
        }
        let outcome = await ComputationWait.wait(
            for: work, softTimeout: kept != nil ? options.softTimeout : nil, hardTimeout: options.hardTimeout)
        switch outcome {
        case .finished(.success(let value)):
            return value
        case .finished(.failure(let error)):
            if error is CancellationError { throw error }
            guard let kept else { throw error }
            return await failSafe(storage, key: key, kept: kept, options: options, error: error)
        case .softTimeout:
            abandoned.store(true, ordering: .releasing)
            storage.report(.softTimeout, key, error: nil)
            return kept!.value  // a soft timeout is only armed with a kept value
        case .hardTimeout:
            abandoned.store(true, ordering: .releasing)
            let error = StrataError(
                code: .timeout, message: "the computation did not finish within \(options.hardTimeout!)",
                key: key, backend: store.backendName)
            storage.report(.computeTimeout, key, error: error)
            guard let kept else { throw error }
            return await failSafe(storage, key: key, kept: kept, options: options, error: error)
        case .cancelled:
            abandoned.store(true, ordering: .releasing)
            throw CancellationError()
        }
    }

    /// Serves `kept` instead of the failure, and stores it as fresh for the throttle so
    /// the failing dependency is not called again by every request.
    static func failSafe<Value: Codable & Sendable>(
        _ storage: some ResilientStorage, key: String, kept: StoredValue<Value>, options: EntryOptions, error: any Error
    ) async -> Value {
        let store = storage.store
        let failure = error as? StrataError ?? StrataError(
            code: .backendUnavailable, message: "the computation failed: \(error)", key: key, backend: store.backendName,
            underlying: error)
        storage.report(.failSafe, key, error: failure)
        let throttle = (options.failSafeThrottle ?? EntryOptions.defaultFailSafeThrottle).milliseconds ?? 5_000
        let now = store.clock.now()
        let freshUntil = now.adding(milliseconds: throttle)
        if var envelope = kept.envelope, let payload = try? ValueCoding.encode(kept.value, key: key, backend: store.backendName) {
            envelope.expiresAt = freshUntil.millisecondsSince1970
            let keptUntil = kept.keptUntil.map { max($0, freshUntil) }
            // Best effort: with the store down, the tiered store still keeps it in L1.
            try? await storage.write(key, kept.value, StoredEntry(bytes: envelope.encode(payload: payload), expiresAt: keptUntil), envelope)
        }
        return kept.value
    }

    /// A hit past `refreshAhead` of its lifetime starts one background computation of the
    /// key (one per key in the process; one across instances with a compute lock).
    static func refreshAheadIfDue<Value: Codable & Sendable>(
        _ storage: some ResilientStorage, key: String, found: StoredValue<Value>, options: EntryOptions,
        compute: @escaping @Sendable (ComputeContext<Value>) async throws -> Value
    ) {
        guard let ratio = options.refreshAhead, let envelope = found.envelope, envelope.expiresAt != Int64.max else { return }
        let store = storage.store
        let lifetime = Double(envelope.expiresAt - envelope.writtenAt)
        let due = envelope.writtenAt + Int64(lifetime * ratio)
        guard store.clock.now().millisecondsSince1970 >= due else { return }
        let flight = RefreshFlights.Key(store: ObjectIdentifier(store), key: key)
        guard RefreshFlights.shared.begin(flight) else { return }
        Task {
            defer { RefreshFlights.shared.end(flight) }
            guard let token = await storage.acquireRefreshLock(key) else { return }
            defer { Task { await storage.releaseRefreshLock(key, token: token) } }
            storage.report(.refreshAhead, key, error: nil)
            let context = ComputeContext(
                staleValue: found.value, staleWrittenAt: Timestamp(millisecondsSince1970: envelope.writtenAt), options: options)
            do {
                let value = try await compute(context)
                storage.report(.compute, key, error: nil)
                let (entry, envelope) = try entry(for: value, options: context.options, now: store.clock.now(), in: store, key: key)
                try await storage.write(key, value, entry, envelope)
            } catch {
                storage.report(.failure, key, error: error as? StrataError ?? StrataError(
                    code: .backendUnavailable, message: "the eager refresh failed: \(error)", key: key,
                    backend: store.backendName, underlying: error))
            }
        }
    }
}

/// The keys being refreshed ahead in this process, so each is refreshed once at a time.
final class RefreshFlights: Sendable {
    struct Key: Hashable, Sendable {
        let store: ObjectIdentifier
        let key: String
    }

    static let shared = RefreshFlights()
    private let running = Lock(Set<Key>())

    /// `true` when no refresh of `key` was running (and one now is).
    func begin(_ key: Key) -> Bool { running.withLock { $0.insert(key).inserted } }
    func end(_ key: Key) { _ = running.withLock { $0.remove(key) } }
}
