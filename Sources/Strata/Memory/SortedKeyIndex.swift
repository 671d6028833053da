#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The keys of a memory store in byte order, so that `keys(prefix:)` and
/// `clear(prefix:)` cost O(log n + matches) instead of a scan of every entry.
///
/// A sorted list cut into chunks of at most 1,024 keys: an insert or a removal searches
/// the chunks, then moves at most one chunk's keys, and a chunk splits in two when full.
struct SortedKeyIndex {
    private var chunks: [[ByteKey]] = []
    private static let maximumChunk = 1_024

    mutating func removeAll() { chunks = [] }

    /// Inserts a key that is not in the index.
    mutating func insert(_ key: ByteKey) {
        guard !chunks.isEmpty else {
            chunks = [[key]]
            return
        }
        let chunk = min(chunkIndex(atOrAfter: key), chunks.count - 1)
        let position = Self.lowerBound(of: key, in: chunks[chunk])
        chunks[chunk].insert(key, at: position)
        if chunks[chunk].count > Self.maximumChunk {
            let upperHalf = Array(chunks[chunk][(Self.maximumChunk / 2)...])
            chunks[chunk].removeSubrange((Self.maximumChunk / 2)...)
            chunks.insert(upperHalf, at: chunk + 1)
        }
    }

    /// Removes a key that is in the index.
    mutating func remove(_ key: ByteKey) {
        let chunk = chunkIndex(atOrAfter: key)
        guard chunk < chunks.count else { return }
        let position = Self.lowerBound(of: key, in: chunks[chunk])
        guard position < chunks[chunk].count, chunks[chunk][position] == key else { return }
        chunks[chunk].remove(at: position)
        if chunks[chunk].isEmpty { chunks.remove(at: chunk) }
    }

    /// The keys that start with `prefix`, in byte order.
    func keys(withPrefix prefix: String) -> [ByteKey] {
        let start = ByteKey(prefix)
        var chunk = chunkIndex(atOrAfter: start)
        guard chunk < chunks.count else { return [] }
        var position = Self.lowerBound(of: start, in: chunks[chunk])
        var found: [ByteKey] = []
        while chunk < chunks.count {
            while position < chunks[chunk].count {
                let key = chunks[chunk][position]
                guard KeyRules.key(key.string, hasPrefix: prefix) else { return found }
                found.append(key)
                position += 1
            }
            chunk += 1
            position = 0
        }
        return found
    }

    /// The first chunk whose last key is at or after `key` (`chunks.count` if none).
    private func chunkIndex(atOrAfter key: ByteKey) -> Int {
        var low = 0
        var high = chunks.count
        while low < high {
            let middle = (low + high) / 2
            if chunks[middle][chunks[middle].count - 1] < key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private static func lowerBound(of key: ByteKey, in chunk: [ByteKey]) -> Int {
        var low = 0
        var high = chunk.count
        while low < high {
            let middle = (low + high) / 2
            if chunk[middle] < key { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

extension ByteKey: Comparable {
    /// Byte order of the UTF-8 bytes (memcmp, then the shorter first).
    static func < (lhs: ByteKey, rhs: ByteKey) -> Bool {
        var a = lhs.string
        var b = rhs.string
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let shared = min(x.count, y.count)
                let order = shared == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, shared)
                return order != 0 ? order < 0 : x.count < y.count
            }
        }
    }
}
