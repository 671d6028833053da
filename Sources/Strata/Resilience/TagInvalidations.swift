import Synchronization

/// Tag invalidation, lazily: `invalidate(tags:)` records, per tag, the instant it was
/// invalidated, in a record of the store (`tag:<tag>`, apart from its keys); an entry whose
/// tags include one invalidated at or after the entry was written is unreadable. So
/// invalidating a tag is one write whatever the number of entries carrying it (as
/// BentoCache does), and the entries themselves leave the store when their lifetime and
/// grace end.
package enum TagInvalidations {
    /// The name a tag's invalidation announcement carries (`.key(...)` on the bus), as
    /// earlier releases sent it, so instances of several releases understand each other.
    package static let reservedPrefix = ReservedRecords.tagRecordPrefix

    package static func key(for tag: String) -> String { reservedPrefix + tag }

    /// The tag an announced name stands for, or `nil` for any other key.
    package static func tag(fromKey key: String) -> String? {
        KeyRules.remainder(of: key, afterPrefix: reservedPrefix)
    }

    /// When `tag` was last invalidated in `store`, in milliseconds since 1970; 0 never (a
    /// store that may lose its records reads a missing one as the instant it found it so).
    package static func invalidatedAt(_ tag: String, in store: some KeyValueStore) async throws -> Int64 {
        try await store.records(named: [ReservedRecords.tagRecord(tag)])[0]
    }

    /// Whether an entry with `envelope` was written after every one of its tags was last
    /// invalidated, reading the instants from `store`.
    package static func areValid(_ envelope: EntryEnvelope, in store: some KeyValueStore) async throws -> Bool {
        let instants = try await store.records(named: envelope.tags.map(ReservedRecords.tagRecord))
        return instants.allSatisfy { $0 < envelope.writtenAt }
    }

    /// Records that `tags` were invalidated at `now` (each record keeps its latest instant).
    package static func record(_ tags: [String], at now: Int64, in store: some KeyValueStore) async throws {
        for tag in tags { try await store.raiseRecord(named: ReservedRecords.tagRecord(tag), to: now) }
    }
}

/// A tiered store's in-process copy of tag invalidation instants, so that checking a
/// tagged L1 hit reads no tier. An instant is loaded from L2 the first time a tag is seen
/// and kept for at most the L1 lifetime; this process's invalidations raise it at once, and
/// other instances' (through the invalidation bus) make it forget the tag, so the next check
/// loads it again. Instants only move forward (max-merge).
///
/// `epoch` changes with every change of the table: an L1 copy stamped with the epoch its
/// tags were checked at is served without another check while the epoch is unchanged.
/// `generation` changes only when the table learns of an invalidation (a raise, a forget):
/// an instant loaded from L2 is kept only if the generation did not change while it loaded,
/// since an invalidation announced meanwhile may be later than what was read.
@usableFromInline
final class TagTable: Sendable {
    private struct Known {
        var invalidatedAt: Int64
        var knownUntil: Int64
    }

    private struct State {
        /// By the tag's bytes: tags that are equal Swift strings but not the same bytes
        /// ("é" precomposed or not) are two tags, as keys are, and as stores record them.
        var known: [ByteKey: Known] = [:]
        var generation = 0
    }

    @usableFromInline
    let epoch = Atomic<Int>(0)
    private let state = Lock(State())

    /// The recorded instant of `tag`, or `nil` when it must be loaded from L2.
    func invalidatedAt(_ tag: String, now: Int64) -> Int64? {
        state.withLock { state in
            guard let entry = state.known[ByteKey(tag)], entry.knownUntil > now else { return nil }
            return entry.invalidatedAt
        }
    }

    /// Whether the table knows every one of `tags` (one lock, no allocation).
    func knowsAll(_ tags: [String], now: Int64) -> Bool {
        state.withLock { state in tags.allSatisfy { tag in state.known[ByteKey(tag)].map { $0.knownUntil > now } ?? false } }
    }

    /// The generation now, to pass to ``remember(_:invalidatedAt:until:ifGeneration:)``.
    var generation: Int { state.withLock { $0.generation } }

    /// Keeps an instant loaded from L2, unless the table learned of an invalidation since
    /// `generation` was read.
    func remember(_ tag: String, invalidatedAt: Int64, until: Int64, ifGeneration generation: Int) {
        let kept = state.withLock { state -> Bool in
            guard state.generation == generation else { return false }
            let previous = state.known[ByteKey(tag)]?.invalidatedAt ?? 0
            state.known[ByteKey(tag)] = Known(invalidatedAt: max(previous, invalidatedAt), knownUntil: until)
            return true
        }
        if kept { epoch.add(1, ordering: .releasing) }
    }

    /// Records this process's invalidation of `tag` at `instant` (the later instant wins).
    func raise(_ tag: String, to instant: Int64, until: Int64) {
        state.withLock { state in
            state.generation += 1
            let previous = state.known[ByteKey(tag)]?.invalidatedAt ?? 0
            state.known[ByteKey(tag)] = Known(invalidatedAt: max(previous, instant), knownUntil: until)
        }
        epoch.add(1, ordering: .releasing)
    }

    /// Forgets every instant (after lost invalidation messages).
    func forgetAll() {
        state.withLock { state in
            state.generation += 1
            state.known.removeAll()
        }
        epoch.add(1, ordering: .releasing)
    }

    /// Forgets `tag`'s instant (another instance changed it), so the next check reloads it.
    func forget(_ tag: String) {
        state.withLock { state in
            state.generation += 1
            state.known[ByteKey(tag)] = nil
        }
        epoch.add(1, ordering: .releasing)
    }
}
