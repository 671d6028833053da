import Foundation
import Strata

/// Entries the cache decoded from its store, each kept with the bytes it came from, so a
/// hit on the same bytes skips the decoding: its header fields, its `Cache-Control`, its
/// body's copy. Decoding is a function of the bytes alone, so bytes equal to the kept
/// ones decode to the kept entry whoever wrote them and whenever; a store that hands back
/// the same buffer (a `MemoryStore`) is matched without reading it.
///
/// Bounded: at most `maximumCount` entries whose bytes add up to `maximumBytes` at most;
/// an entry that would pass either limit empties the memo first (it fills again with the
/// entries read next). Entries of more than a sixteenth of `maximumBytes` are not kept.
final class DecodedEntries: Sendable {
    private struct Kept {
        let bytes: [UInt8]
        let entry: StoredHTTPEntry
    }

    private struct State {
        var kept: [String: Kept] = [:]
        var bytes = 0
    }

    private let state = Lock(State())
    let maximumCount: Int
    let maximumBytes: Int

    /// How many entries are kept, and their bytes in all.
    var kept: (count: Int, bytes: Int) { state.withLock { ($0.kept.count, $0.bytes) } }

    init(maximumCount: Int = 1_024, maximumBytes: Int = 8 << 20) {
        self.maximumCount = maximumCount
        self.maximumBytes = maximumBytes
    }

    /// The entry decoded from `bytes`, read from `key`: the kept one when it came from the
    /// same bytes, else decoded now (and kept, within the limits).
    func entry(forKey key: String, decoding bytes: [UInt8]) throws(StoredHTTPEntry.MalformedEntry) -> StoredHTTPEntry {
        if let kept = state.withLock({ $0.kept[key] }), Self.same(kept.bytes, bytes) { return kept.entry }
        let entry: StoredHTTPEntry
        do {
            entry = try StoredHTTPEntry(decoding: bytes)
        } catch {
            forget(key)
            throw error
        }
        guard bytes.count <= maximumBytes / 16 else {
            forget(key)  // its old bytes are no longer what the store holds
            return entry
        }
        state.withLock { state in
            let old = state.kept[key]
            let count = state.kept.count + (old == nil ? 1 : 0)
            let total = state.bytes - (old?.bytes.count ?? 0) + bytes.count
            if count > maximumCount || total > maximumBytes {
                state.kept.removeAll(keepingCapacity: true)
                state.bytes = 0
            } else if let old {
                state.bytes -= old.bytes.count
            }
            state.kept[key] = Kept(bytes: bytes, entry: entry)
            state.bytes += bytes.count
        }
        return entry
    }

    /// Drops what was kept for `key` (its URL invalidated, its bytes replaced by ones not kept).
    func forget(_ key: String) {
        state.withLock { state in
            if let old = state.kept.removeValue(forKey: key) { state.bytes -= old.bytes.count }
        }
    }

    /// Whether two stored entries are the same bytes: one pointer comparison for the same
    /// buffer (a `MemoryStore` hands back the one it holds), else `memcmp`, about 30 ns for
    /// 2 KiB (the standard library's `==` compares them one by one: 735 ns).
    static func same(_ first: [UInt8], _ second: [UInt8]) -> Bool {
        guard first.count == second.count else { return false }
        return first.withUnsafeBufferPointer { first in
            second.withUnsafeBufferPointer { second in
                guard let a = first.baseAddress, let b = second.baseAddress, a != b else { return true }
                return memcmp(a, b, first.count) == 0
            }
        }
    }
}
