/// The rules every bulk call applies to its keys before it touches a backend.
@usableFromInline
package enum BulkKeys {
    /// `keys` checked as one and without repeats, in the order given: every key valid (the
    /// error names the first bad one), and no two keys that Swift compares equal while their
    /// bytes differ (`"é"` precomposed and decomposed are two keys to a store, but one key of
    /// the `[String: Value]` a bulk call returns, so the call could not answer for both).
    @usableFromInline
    package static func validated(_ keys: some Sequence<String>, backend: String) throws -> [String] {
        var unique: [String] = []
        var seen = Set<String>(minimumCapacity: keys.underestimatedCount)
        unique.reserveCapacity(keys.underestimatedCount)
        for key in keys {
            try KeyRules.validate(key, backend: backend)
            let (inserted, earlier) = seen.insert(key)  // one hash per key
            if !inserted {
                guard earlier.utf8.elementsEqual(key.utf8) else {
                    throw StrataError(
                        code: .invalidKey,
                        message:
                            "the key equals \(StrataError.quoted(earlier)) as a Swift string but not byte for byte; "
                            + "one bulk call cannot hold both: make two calls",
                        key: key, backend: backend)
                }
                continue
            }
            unique.append(key)
        }
        return unique
    }

    /// Whether `key` is ASCII, so that no other key equals it as a Swift string unless their
    /// bytes are equal too (checked in place; `false` for a string not stored contiguously).
    @inlinable
    package static func isASCII(_ key: String) -> Bool {
        key.utf8.withContiguousStorageIfAvailable { bytes in
            var bits: UInt8 = 0
            for byte in bytes { bits |= byte }
            return bits < 0x80
        } ?? false
    }

    /// The keys of `keys` that another key of them equals as a Swift string while their bytes
    /// differ (`"é"` precomposed and decomposed): one key of a `[String: Value]`, two to a
    /// store. Empty, without a set, when every key is ASCII.
    package static func equalAsStringsOnly(_ keys: [String]) -> Set<String> {
        guard !keys.allSatisfy(isASCII) else { return [] }
        var firstBytes: [String: String] = [:]
        var ambiguous = Set<String>()
        for key in keys {
            if let earlier = firstBytes[key] {
                if !earlier.utf8.elementsEqual(key.utf8) { ambiguous.insert(key) }
            } else {
                firstBytes[key] = key
            }
        }
        return ambiguous
    }

    /// The position in `keys` of the key a batch read's `error` names when the error is
    /// that key's entry (damaged, or of another type: `corruptEntry`), so the batch can be
    /// read again without it; `nil` for any other error (a refusal, an unreachable backend:
    /// the whole batch's, though a backend names a key), and after `retries` keys dropped
    /// already (`maximumUnreadableKeys`): a backend that names a key of every failure (the
    /// first, say) costs a batch a few calls, not one a key.
    package static func unreadableKey(named error: any Error, in keys: [String], retries: Int) -> Int? {
        guard retries < maximumUnreadableKeys, let error = error as? StrataError, error.code == .corruptEntry, let key = error.key
        else { return nil }
        return keys.firstIndex { $0.utf8.elementsEqual(key.utf8) }
    }

    /// The most keys a bulk read drops, one call each, before it takes the rest as misses.
    package static let maximumUnreadableKeys = 8

    /// `keys` sorted by their UTF-8 bytes, the order every store lists keys in.
    package static func byteOrdered(_ keys: some Sequence<String>) -> [String] {
        keys.sorted(by: KeyRules.byteOrder)
    }

    /// The error of a bulk write that failed at `key` after writing `written`: the backend's
    /// error (wrapped in a `StrataError` naming the key when it was not one), with
    /// ``StrataError/writtenKeys`` set.
    package static func partialWrite(_ error: any Error, written: [String], key: String, backend: String) -> any Error {
        if error is CancellationError, written.isEmpty { return error }
        var failure =
            error as? StrataError
            ?? StrataError(
                code: .backendUnavailable, message: "the write failed: \(error)", key: key, backend: backend, underlying: error)
        if failure.key == nil { failure.key = key }
        failure.writtenKeys = byteOrdered(written)
        return failure
    }
}
