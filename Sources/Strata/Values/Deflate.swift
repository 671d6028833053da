import CZlib

/// zlib's deflate, one value at a time, for ``ValueCompression/zlib(above:)``.
enum Deflate {
    /// `bytes` compressed (a zlib stream, level 6), or `nil` when that takes more than
    /// `limit` bytes (compression would not pay) or zlib fails.
    static func compress(_ bytes: [UInt8], limit: Int) -> [UInt8]? {
        guard limit > 0 else { return nil }
        var stream = z_stream()
        // A window no larger than the value: the same output, and a fresh stream's state
        // (allocated and cleared for each value) shrinks with it: 1 KiB compresses in
        // 27 µs instead of 66 µs with the default 32 KiB window.
        var windowBits: Int32 = 9
        while windowBits < 15 && (1 << windowBits) < bytes.count { windowBits += 1 }
        let initialized = deflateInit2_(
            &stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard initialized == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: limit)
        let status = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        // Z_OK or Z_BUF_ERROR here mean the output did not fit in `limit`.
        guard status == Z_STREAM_END else { return nil }
        output.removeLast(Int(stream.avail_out))
        return output
    }

    /// The `length` bytes `stream` expands to, or `nil` when it is damaged, ends early, is
    /// followed by other bytes, or expands to more or fewer. The output buffer grows with what
    /// the stream produces (doubling, from four times the stream's size), up to one byte past
    /// the length the header claims (which ``ValueMarker/maximumExpandedBytes`` bounds): a
    /// damaged stream claiming 64 MiB fails having filled what it expanded to, not the claim.
    static func expand(_ compressed: ArraySlice<UInt8>, length: Int) -> [UInt8]? {
        // Deflate expands 1,032 times at most: a claim past that is damage, refused before allocating.
        guard length <= compressed.count * 1_032 + 64 else { return nil }
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        // One byte more than claimed: output past the claim shows as that byte filled.
        let largest = length + 1
        var output = [UInt8](repeating: 0, count: min(largest, max(4_096, compressed.count * 4)))
        var produced = 0
        return compressed.withUnsafeBufferPointer { input -> [UInt8]? in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            while true {
                let status = output.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress! + produced
                    stream.avail_out = uInt(out.count - produced)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    produced = out.count - Int(stream.avail_out)
                    return status
                }
                switch status {
                case Z_STREAM_END:
                    guard produced == length, stream.avail_in == 0 else { return nil }
                    output.removeLast(output.count - produced)
                    return output
                case Z_OK, Z_BUF_ERROR:
                    // Room left means the input ran out before the stream ended; a full buffer
                    // at its largest means the stream goes past the claim.
                    guard stream.avail_out == 0, output.count < largest else { return nil }
                    output.append(contentsOf: repeatElement(0, count: min(output.count, largest - output.count)))
                default:
                    return nil
                }
            }
        }
    }
}
