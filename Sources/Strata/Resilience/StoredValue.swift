import Synchronization

/// A value read from stored bytes, with its envelope when it has one: what plain reads
/// and `getOrSet` with options decide freshness from.
package struct StoredValue<Value: Sendable>: Sendable {
    package var value: Value
    /// `nil` for a plain entry, fresh for as long as the store keeps it.
    package var envelope: EntryEnvelope?
    /// When the store drops the entry (the end of its grace, for an envelope).
    package var keptUntil: Timestamp?

    /// Whether the value is within its lifetime at `now` (tags aside).
    package func isFresh(nowMilliseconds now: Int64) -> Bool {
        guard let envelope else { return true }
        return !envelope.isExpired(nowMilliseconds: now)
    }

    /// Decodes stored bytes: the payload of an envelope, or the bytes of a plain entry, by
    /// `format`'s coders. `nil` for an envelope this version cannot read (a miss, never a
    /// crash); `.corruptEntry` for a compressed value that does not expand.
    package static func decode(
        _ bytes: [UInt8], keptUntil: Timestamp?, as type: Value.Type, key: String, backend: String,
        format: @autoclosure () -> ValueFormat
    ) throws -> StoredValue<Value>? where Value: Decodable {
        switch EntryEnvelope.parse(bytes) {
        case .plain:
            return StoredValue(
                value: try ValueCoding.decode(bytes, as: type, key: key, backend: backend, format: format()), envelope: nil,
                keptUntil: keptUntil)
        case .envelope(let envelope, let offset):
            let payload = Array(bytes[offset...])
            return StoredValue(
                value: try ValueCoding.decode(payload, as: type, key: key, backend: backend, format: format()), envelope: envelope,
                keptUntil: keptUntil)
        case .unreadable:
            return nil
        }
    }
}

/// A value kept in memory with its envelope, so an L1 hit of an entry written with
/// options decides freshness without parsing bytes. `checkedEpoch` is the tiered store's
/// tag epoch when the tags were last checked: an unchanged epoch means no tag was
/// invalidated since, and the check is one atomic load.
@usableFromInline
final class KeptEnvelope<Value: Sendable>: Sendable {
    // What a hit reads comes first, beside the object's header (a class keeps its stored
    // properties in the order declared): the expiry, whether there are tags, then the value;
    // the tag epoch (read only for a tagged copy) and the envelope (never read by a hit) come
    // after, so that an untagged hit of a 32-byte value reads the object's first 64 bytes
    // (with the epoch between the expiry and the flag, bytes 0-72: two cache lines wherever
    // the object starts; now one when it starts on a line, which 16-byte alignment gives one
    // object in four).
    /// The envelope's expiry, kept flat for the hit path.
    @usableFromInline
    let expiresAt: Int64
    /// Whether the envelope has tags, kept flat for the hit path.
    @usableFromInline
    let isTagged: Bool
    @usableFromInline
    let value: Value
    /// The tag epoch the tags were last checked at.
    @usableFromInline
    let checkedEpoch: Atomic<Int>
    @usableFromInline
    let envelope: EntryEnvelope

    init(_ value: Value, _ envelope: EntryEnvelope, epoch: Int) {
        self.value = value
        self.envelope = envelope
        self.checkedEpoch = Atomic(epoch)
        self.expiresAt = envelope.expiresAt
        self.isTagged = !envelope.tags.isEmpty
    }

    @inlinable
    static func read(_ kept: (any AnyObject & Sendable)?) -> KeptEnvelope<Value>? {
        guard let kept, type(of: kept) == KeptEnvelope<Value>.self else { return nil }
        return unsafeDowncast(kept, to: KeptEnvelope<Value>.self)
    }
}
