/// The bytes of one lease file, `.leases/<name>` where the name is the SHA-256 (in hex) of
/// the key's UTF-8 bytes, so that a key of any length has a name of 64 characters:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `SLEASE\0\u{1}` (format version 1) |
/// | 8 | 8 | the lease's token, little-endian |
/// | 16 | 8 | when the lease ends, milliseconds since 1970 on the store's clock, little-endian |
/// | 24 | … | the key's UTF-8 bytes |
///
/// The key is kept in the file because its name is a digest: `clear(prefix:)` reads it to
/// tell which leases it covers, and a check compares it with the key it was asked about.
enum FolderLeaseFormat {
    static let magic: [UInt8] = Array("SLEASE".utf8) + [0, 1]
    static let headerSize = 24

    /// A lease as its file holds it.
    struct Lease {
        var token: UInt64
        var until: Int64
        var key: ArraySlice<UInt8>
    }

    /// The name of `key`'s lease file.
    static func name(of key: String) -> String {
        SHA256.hex(key.utf8)
    }

    static func encode(token: UInt64, until: Timestamp, key: String) -> [UInt8] {
        var bytes = magic
        bytes.reserveCapacity(headerSize + key.utf8.count)
        FolderEntryFormat.append(token, to: &bytes)
        FolderEntryFormat.append(until.millisecondsSince1970, to: &bytes)
        bytes += key.utf8
        return bytes
    }

    /// The lease in `bytes`, or `nil` when they are not a lease file (which then holds no lease).
    static func decode(_ bytes: [UInt8]) -> Lease? {
        guard bytes.count >= headerSize, bytes[0..<8].elementsEqual(magic) else { return nil }
        return Lease(
            token: FolderEntryFormat.read(bytes, at: 8), until: FolderEntryFormat.read(bytes, at: 16),
            key: bytes[headerSize...])
    }
}
