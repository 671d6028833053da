#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The rules every store applies to the keys callers pass in.
public enum KeyRules {
    /// The longest key, in UTF-8 bytes, that every store accepts.
    ///
    /// ```swift
    /// precondition(key.utf8.count <= KeyRules.maximumKeyBytes)
    /// ```
    public static let maximumKeyBytes = 1024

    /// Throws ``StrataError/Code/invalidKey`` for an empty key, one longer than
    /// ``maximumKeyBytes``, or one that begins with ``reservedPrefix``.
    ///
    /// ```swift
    /// try KeyRules.validate(key, backend: backendName)
    /// ```
    @inlinable
    public static func validate(_ key: String, backend: @autoclosure () -> String) throws {
        let count = key.utf8.count
        if count == 0 || count > maximumKeyBytes || (key.utf8.first == 0 && isReserved(key)) { try reject(key, backend: backend()) }
    }

    /// The prefix of the keys Strata keeps its own records under in a store that does not keep
    /// them apart (a store of your own on the default records, and files of earlier
    /// releases): `"\0strata-"`. Listings leave such keys out, so a caller's key may not begin
    /// with it; any other key, NUL included, is a key.
    ///
    /// ```swift
    /// KeyRules.key("\u{0}strata-x", hasPrefix: KeyRules.reservedPrefix)   // true: refused
    /// ```
    public static let reservedPrefix = "\u{0}strata-"

    /// Whether `key` begins with ``reservedPrefix``.
    @usableFromInline
    static func isReserved(_ key: String) -> Bool { KeyRules.key(key, hasPrefix: reservedPrefix) }

    @usableFromInline
    static func reject(_ key: String, backend: String) throws -> Never {
        let reason =
            key.isEmpty
            ? "a key must not be empty"
            : key.utf8.count > maximumKeyBytes
                ? "a key is at most \(maximumKeyBytes) UTF-8 bytes; this one is \(key.utf8.count)"
                : "a key must not begin with \"\\0strata-\", where Strata keeps its own records"
        throw StrataError(code: .invalidKey, message: reason, key: key, backend: backend)
    }

    /// Whether `key` starts with `prefix`, byte for byte (not by Unicode equivalence).
    ///
    /// ```swift
    /// KeyRules.key("e\u{301}x", hasPrefix: "e")   // true: the bytes start with "e"
    /// ```
    @inlinable
    public static func key(_ key: String, hasPrefix prefix: String) -> Bool {
        key.utf8.starts(with: prefix.utf8)
    }

    /// What follows `prefix` in `key`, byte for byte, or `nil` when `key` does not start with
    /// it. `String.hasPrefix` and `dropFirst` work on characters: a tag that begins with a
    /// combining mark (`"\u{301}x"`) merges with the `:` before it, and `"tag:\u{301}x"`
    /// would not start with `"tag:"`.
    package static func remainder(of key: String, afterPrefix prefix: String) -> String? {
        guard KeyRules.key(key, hasPrefix: prefix) else { return nil }
        return String(decoding: key.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
    }

    /// Whether `a` sorts before `b` by UTF-8 bytes, the order ``KeyValueStore/keys(prefix:)`` returns.
    ///
    /// ```swift
    /// keys.sort(by: KeyRules.byteOrder)
    /// ```
    @inlinable
    public static func byteOrder(_ a: String, _ b: String) -> Bool {
        // Over the two strings' bytes in place (native strings, small ones included, are
        // contiguous): the UTF-8 view's iterators cost most of a sort of keys.
        let compared = a.utf8.withContiguousStorageIfAvailable { a in
            b.utf8.withContiguousStorageIfAvailable { b in bytes(a, precede: b) }
        }
        if case .some(.some(let precedes)) = compared { return precedes }
        return a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// Whether `a` sorts before `b`, byte by byte, a prefix first.
    @inlinable
    static func bytes(_ a: UnsafeBufferPointer<UInt8>, precede b: UnsafeBufferPointer<UInt8>) -> Bool {
        let common = Swift.min(a.count, b.count)
        var index = 0
        while index < common {
            if a[index] != b[index] { return a[index] < b[index] }
            index += 1
        }
        return a.count < b.count
    }
}

/// A key that hashes and compares by its UTF-8 bytes, unlike `String`, which treats
/// canonically equivalent text (`"é"` and `"e\u{301}"`) as equal.
@usableFromInline
struct ByteKey: Hashable, Sendable {
    @usableFromInline
    let string: String

    @usableFromInline
    init(_ string: String) {
        var string = string
        string.makeContiguousUTF8()
        self.string = string
    }

    /// Runs `body` with the key's UTF-8 bytes, borrowed in place (no copy of the string).
    @inline(__always)
    func withBytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        if let result = string.utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = string
        return copy.withUTF8(body)
    }

    @usableFromInline
    static func == (lhs: ByteKey, rhs: ByteKey) -> Bool {
        lhs.withBytes { x in
            rhs.withBytes { y in
                x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0)
            }
        }
    }

    @usableFromInline
    func hash(into hasher: inout Hasher) {
        withBytes { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
