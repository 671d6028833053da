/// A Lua script the store runs by its SHA1 (`EVALSHA`), so a call sends 40 bytes, not the
/// script. A server that does not have it cached (`NOSCRIPT`: it restarted, `SCRIPT FLUSH`,
/// a node new to the cluster) gets it once by `EVAL`, which caches it for the next call;
/// nothing ran when `NOSCRIPT` came back, so sending it again is safe.
struct RedisScript: Sendable {
    let source: [UInt8]
    /// The SHA1 of the source in lowercase hex, as Redis names a cached script.
    let sha: [UInt8]

    init(_ source: String) {
        self.source = Array(source.utf8)
        sha = Array(SHA1.hex(self.source).utf8)
    }

    /// `EVALSHA sha <keys.count> keys… arguments…`.
    func evalSHA(keys: [[UInt8]], arguments: [[UInt8]]) -> [[UInt8]] {
        [Array("EVALSHA".utf8), sha, Array(String(keys.count).utf8)] + keys + arguments
    }

    /// `EVAL source <keys.count> keys… arguments…`.
    func eval(keys: [[UInt8]], arguments: [[UInt8]]) -> [[UInt8]] {
        [Array("EVAL".utf8), source, Array(String(keys.count).utf8)] + keys + arguments
    }

    /// Whether `reply` says the server does not have the script cached.
    static func isMissing(_ reply: RedisReply) -> Bool {
        if case .error(let message) = reply { return message.hasPrefix("NOSCRIPT") }
        return false
    }
}

/// SHA-1 (FIPS 180-4), only to name scripts as Redis does: not for anything secret.
enum SHA1 {
    static func hex(_ message: [UInt8]) -> String {
        var h: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
        var padded = message + [0x80]
        while padded.count % 64 != 56 { padded.append(0) }
        let bits = UInt64(message.count) * 8
        for shift in stride(from: 56, through: 0, by: -8) { padded.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 80)
        for block in stride(from: 0, to: padded.count, by: 64) {
            for t in 0..<16 {
                let i = block + t * 4
                w[t] = UInt32(padded[i]) << 24 | UInt32(padded[i + 1]) << 16 | UInt32(padded[i + 2]) << 8 | UInt32(padded[i + 3])
            }
            for t in 16..<80 { w[t] = rotate(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1) }
            var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
            for t in 0..<80 {
                let (f, k): (UInt32, UInt32) =
                    switch t {
                    case 0..<20: ((b & c) | (~b & d), 0x5A82_7999)
                    case 20..<40: (b ^ c ^ d, 0x6ED9_EBA1)
                    case 40..<60: ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
                    default: (b ^ c ^ d, 0xCA62_C1D6)
                    }
                let temp = rotate(a, 5) &+ f &+ e &+ k &+ w[t]
                (e, d, c, b, a) = (d, c, rotate(b, 30), a, temp)
            }
            h[0] &+= a
            h[1] &+= b
            h[2] &+= c
            h[3] &+= d
            h[4] &+= e
        }
        return h.map { word in
            let text = String(word, radix: 16)
            return String(repeating: "0", count: 8 - text.count) + text
        }.joined()
    }

    private static func rotate(_ value: UInt32, _ count: UInt32) -> UInt32 {
        value << count | value >> (32 - count)
    }
}
