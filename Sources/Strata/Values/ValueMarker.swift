/// The markers a coded or compressed value begins with, so that a reader tells them from
/// plain JSON (whose first byte is never 0) and from an entry envelope (`"\0STRATA"`,
/// see `EntryEnvelope`), and knows how to read them. Documented for other clients in
/// `Docs/Values.md`:
///
///     coded       00 53 54 52 43 ("\0STRC"), identifier length (1 byte), identifier (UTF-8), the coder's bytes
///     compressed  00 53 54 52 5A ("\0STRZ"), algorithm (1 byte: 1 zlib), length once expanded
///                 (4 bytes, big-endian), the compressed stream of the coded value
///
/// A compressed value is the coded value (JSON, or marked) compressed whole.
package enum ValueMarker {
    static let coded: [UInt8] = [0x00, 0x53, 0x54, 0x52, 0x43]
    static let compressed: [UInt8] = [0x00, 0x53, 0x54, 0x52, 0x5A]
    static let compressedHeaderBytes = 5 + 1 + 4
    /// The largest value compressed, and the most a compressed value may expand to: a
    /// damaged or hostile header cannot make a reader allocate more.
    package static let maximumExpandedBytes = 64 << 20
    static let maximumIdentifierBytes = 64

    @inline(__always)
    static func begins(_ bytes: [UInt8], with marker: [UInt8]) -> Bool {
        bytes.count >= marker.count && bytes[0] == 0 && bytes.starts(with: marker)
    }

    /// `payload` marked as written by `identifier`.
    static func code(_ payload: [UInt8], identifier: String, key: String, backend: String) throws -> [UInt8] {
        let name = Array(identifier.utf8)
        guard (1...maximumIdentifierBytes).contains(name.count) else {
            throw StrataError(
                code: .encodingFailed, message: "a value coder's identifier must be 1 to \(maximumIdentifierBytes) UTF-8 bytes",
                key: key, backend: backend)
        }
        var bytes = coded
        bytes.reserveCapacity(coded.count + 1 + name.count + payload.count)
        bytes.append(UInt8(name.count))
        bytes.append(contentsOf: name)
        bytes.append(contentsOf: payload)
        return bytes
    }

    /// The identifier of a coded value and where its coder's bytes start; `nil` when the
    /// marker is cut short.
    static func identifier(of bytes: [UInt8]) -> (String, Int)? {
        guard bytes.count > coded.count else { return nil }
        let length = Int(bytes[coded.count])
        let start = coded.count + 1
        guard start + length <= bytes.count else { return nil }
        return (String(decoding: bytes[start..<(start + length)], as: UTF8.self), start + length)
    }

    /// `coded` compressed with `compression`, or `coded` itself when compressing does not make it smaller.
    static func compress(_ coded: [UInt8], with compression: ValueCompression) -> [UInt8] {
        guard compression.applies(to: coded.count), let algorithm = compression.algorithm else { return coded }
        var header = compressed
        header.append(algorithm.rawValue)
        for shift in stride(from: 24, through: 0, by: -8) { header.append(UInt8(truncatingIfNeeded: coded.count >> shift)) }
        let stream: [UInt8]?
        switch algorithm {
        case .zlib: stream = Deflate.compress(coded, limit: coded.count - header.count)
        }
        guard let stream else { return coded }
        return header + stream
    }

    /// The coded value a compressed one holds. Throws ``StrataError/Code/corruptEntry`` when
    /// the header or the stream is damaged, names an unknown algorithm, or expands to another
    /// length than the header says.
    static func expand(_ bytes: [UInt8], key: String, backend: String) throws -> [UInt8] {
        func corrupt(_ why: String) -> StrataError {
            StrataError(code: .corruptEntry, message: "the compressed value \(why)", key: key, backend: backend)
        }
        guard bytes.count >= compressedHeaderBytes else { throw corrupt("is cut short") }
        var length = 0
        for index in 6..<10 { length = length << 8 | Int(bytes[index]) }
        guard length <= maximumExpandedBytes else { throw corrupt("claims \(length) bytes, more than \(maximumExpandedBytes)") }
        switch Algorithm(rawValue: bytes[5]) {
        case .zlib:
            guard let expanded = Deflate.expand(bytes[compressedHeaderBytes...], length: length) else {
                throw corrupt("does not decompress to \(length) bytes with zlib")
            }
            return expanded
        case nil:
            throw corrupt("names an unknown algorithm (\(bytes[5]))")
        }
    }

    typealias Algorithm = ValueCompression.Algorithm
}
