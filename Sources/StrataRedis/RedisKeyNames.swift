/// The Redis names a ``RedisStore`` uses: its keys, and Strata's own keys beside them.
///
/// A key's name is the namespace and the key, both UTF-8. Strata's own names (a key's
/// lease, a record, a compute lock) start with the byte 0xFF, which no UTF-8 text can
/// start with, followed by `strata:lease:`, `strata:record:` or `strata:lock:` and the
/// namespace: so they never collide with a key, and no listing or `clear` of keys (which
/// take only names that are UTF-8 after the namespace) meets them, even with the default
/// empty namespace.
///
/// On a Redis Cluster a lease must sit in its key's slot, so that one script can check
/// the one and write the other: its name carries a hash tag that hashes to that slot
/// (`\xFFstrata:lease:{<tag>}<namespace><key>`, see ``RedisClusterSlot/tag(for:)``).
/// The key's name follows the tag unchanged, so the name says which key it leases.
struct RedisKeyNames: Sendable {
    /// The first byte of every name of Strata's own: never the first byte of UTF-8 text.
    static let reservedByte: UInt8 = 0xFF

    let namespace: [UInt8]
    /// Whether lease names carry their key's slot as a hash tag.
    let clustered: Bool
    let leasePrefix: [UInt8]
    let recordPrefix: [UInt8]
    let lockPrefix: [UInt8]

    init(namespace: String, clustered: Bool) {
        self.namespace = Array(namespace.utf8)
        self.clustered = clustered
        leasePrefix = [Self.reservedByte] + Array("strata:lease:".utf8)
        recordPrefix = [Self.reservedByte] + Array("strata:record:".utf8) + self.namespace
        lockPrefix = [Self.reservedByte] + Array("strata:lock:".utf8) + self.namespace
    }

    /// The name of `key`: the namespace and the key.
    func key(_ key: String) -> [UInt8] { namespace + Array(key.utf8) }

    /// The key that `name` is the name of; `nil` for a name outside the namespace, one of
    /// Strata's own, or one whose rest is not UTF-8 (no key of this store).
    func storeKey(ofName name: [UInt8]) -> String? {
        guard name.starts(with: namespace), name.first != Self.reservedByte else { return nil }
        return String(validating: name[namespace.count...], as: UTF8.self)
    }

    /// The name of the lease of the key named `name` (namespace included).
    func lease(ofKeyNamed name: [UInt8]) -> [UInt8] {
        guard clustered else { return leasePrefix + name }
        return leasePrefix + [UInt8(ascii: "{")] + RedisClusterSlot.tag(for: RedisClusterSlot.of(name)) + [UInt8(ascii: "}")] + name
    }

    /// The name of the key that the lease named `name` belongs to; `nil` for a name that is
    /// no lease of this form.
    func keyName(ofLease name: [UInt8]) -> ArraySlice<UInt8>? {
        guard name.starts(with: leasePrefix) else { return nil }
        let rest = name[leasePrefix.count...]
        guard clustered else { return rest }
        guard rest.first == UInt8(ascii: "{"), let close = rest.firstIndex(of: UInt8(ascii: "}")) else { return nil }
        return rest[(close + 1)...]
    }

    /// The `SCAN MATCH` pattern of the leases of keys that start with `prefix` (a tagged
    /// lease name may match it without being one: ``keyName(ofLease:)`` tells).
    func leasePattern(_ prefix: String) -> [UInt8] {
        let keys = namespace + Array(prefix.utf8)
        if clustered {
            return Self.escaped(leasePrefix + [UInt8(ascii: "{")]) + Array("*}".utf8) + Self.escaped(keys) + [UInt8(ascii: "*")]
        }
        return Self.escaped(leasePrefix + keys) + [UInt8(ascii: "*")]
    }

    /// The `SCAN MATCH` pattern of the keys that start with `prefix`.
    func keyPattern(_ prefix: String) -> [UInt8] {
        Self.escaped(namespace + Array(prefix.utf8)) + [UInt8(ascii: "*")]
    }

    /// Whether `name` (found by a scan of `prefix`) is a key of this store: it starts with
    /// the namespace and the prefix, and the rest is UTF-8 (Strata's own names never are).
    func isKey(_ name: [UInt8], prefix wanted: [UInt8]) -> Bool {
        name.starts(with: wanted) && String(validating: name[namespace.count...], as: UTF8.self) != nil
    }

    /// The name of the record `record`.
    func record(_ record: String) -> [UInt8] { recordPrefix + Array(record.utf8) }

    /// The name of the compute lock of `key`.
    func lock(_ key: String) -> [UInt8] { lockPrefix + Array(key.utf8) }

    /// `bytes` with every character that means something to `MATCH` escaped.
    static func escaped(_ bytes: [UInt8]) -> [UInt8] {
        var pattern: [UInt8] = []
        pattern.reserveCapacity(bytes.count + 8)
        for byte in bytes {
            if byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "[")
                || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "\\")
            {
                pattern.append(UInt8(ascii: "\\"))
            }
            pattern.append(byte)
        }
        return pattern
    }
}

extension RedisClusterSlot {
    /// A short hash tag (letters and digits, no brace) that hashes to `slot`: a name that
    /// carries it as `{tag}` lives in `slot`, whatever else the name holds.
    static func tag(for slot: Int) -> [UInt8] { tags[slot] }

    /// The first tag found for each slot, shortest first (all of them are found among the
    /// one- to three-character tags: 242,234 candidates for 16,384 slots).
    private static let tags: [[UInt8]] = {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        var table = [[UInt8]](repeating: [], count: count)
        var missing = count
        var length = 1
        while missing > 0 {
            var digits = [Int](repeating: 0, count: length)
            var candidate = [UInt8](repeating: alphabet[0], count: length)
            outer: while missing > 0 {
                let slot = Int(crc16(candidate[...])) & (count - 1)
                if table[slot].isEmpty {
                    table[slot] = candidate
                    missing -= 1
                }
                var position = length - 1
                while true {  // the next candidate of this length, as an odometer
                    digits[position] += 1
                    if digits[position] < alphabet.count {
                        candidate[position] = alphabet[digits[position]]
                        break
                    }
                    digits[position] = 0
                    candidate[position] = alphabet[0]
                    if position == 0 { break outer }
                    position -= 1
                }
            }
            length += 1
        }
        return table
    }()
}
