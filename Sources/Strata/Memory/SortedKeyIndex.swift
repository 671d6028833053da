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

    /// Replaces the contents with `sorted`, which is in byte order.
    mutating func build(from sorted: [ByteKey]) {
        let half = Self.maximumChunk / 2
        chunks = stride(from: 0, to: sorted.count, by: half).map { Array(sorted[$0..<min($0 + half, sorted.count)]) }
    }

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
    @usableFromInline
    static func < (lhs: ByteKey, rhs: ByteKey) -> Bool {
        lhs.withBytes { x in
            rhs.withBytes { y in
                // Most keys differ in their first 8 bytes: compare those as one number.
                let headX = Self.head(x)
                let headY = Self.head(y)
                if headX != headY { return headX < headY }
                let shared = min(x.count, y.count)
                if shared > 8 {
                    let order = memcmp(x.baseAddress! + 8, y.baseAddress! + 8, shared - 8)
                    if order != 0 { return order < 0 }
                }
                return x.count < y.count
            }
        }
    }

    /// The first 8 bytes, big-endian, zero-padded: ordered as the bytes are.
    @inline(__always)
    private static func head(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        if bytes.count >= 8 {
            return UnsafeRawPointer(bytes.baseAddress!).loadUnaligned(as: UInt64.self).bigEndian
        }
        var word: UInt64 = 0
        for index in 0..<bytes.count { word |= UInt64(bytes[index]) << (56 - 8 * UInt64(index)) }
        return word
    }
}
