/// A memory store as the source of its own pipeline: its entries keep the Swift values they
/// were written as, so a computation's read returns them without decoding.
extension MemoryStore {
    /// The entry at `key` as `type`, fresh or in its grace, tags checked; `nil` for a miss.
    func storedValue<Value: Codable & Sendable>(
        _ key: ByteKey, as type: Value.Type, for purpose: Pipeline.ReadPurpose, in pipeline: Pipeline
    ) async throws -> StoredValue<Value>? {
        var now: Int64 = 0
        guard let cached = try lookUp(key, now: &now, bytesBesideValue: false) else { return nil }
        if let value = Kept<Value>.read(cached.value) {
            return StoredValue(value: value, envelope: nil, keptUntil: cached.expiresAtTimestamp)
        }
        guard let bytes = cached.value == nil ? cached.bytes : try peek(key) else { return nil }
        let entry = StoredEntry(bytes: bytes, expiresAt: cached.expiresAtTimestamp)
        guard let found = try pipeline.decode(entry, key: key.string, as: type, for: purpose),
            try await pipeline.tagsAreValid(found.envelope)
        else { return nil }
        return found
    }
}
