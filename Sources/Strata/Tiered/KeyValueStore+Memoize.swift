#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension KeyValueStore {
    /// A function that computes `compute(argument)` once per argument and then serves it
    /// from this store, for `expires`.
    ///
    /// Concurrent callers with one argument share one computation (``getOrSet(_:as:expires:compute:)->Value``).
    /// The key is `prefix` followed by the argument's JSON with sorted keys, so equal
    /// arguments give equal keys in every process: `price:"A-42"` for the argument
    /// `"A-42"`. An argument whose key would pass 1024 bytes is keyed by the SHA-256 of
    /// its JSON instead (`price:#sha256:…`).
    ///
    /// ```swift
    /// let price = cache.memoize(prefix: "price:", expires: "1h") { (sku: String) async throws -> Price in
    ///     try await pricing.lookup(sku)
    /// }
    /// let p = try await price("A-42")   // computed once, then served from the cache
    /// ```
    public func memoize<Argument: Encodable & Sendable, Value: Codable & Sendable>(
        prefix: String,
        expires: Expiry? = nil,
        _ compute: @escaping @Sendable (Argument) async throws -> Value
    ) -> @Sendable (Argument) async throws -> Value {
        { argument in
            let key = try MemoKey.key(prefix: prefix, argument: argument)
            return try await self.getOrSet(key, as: Value.self, expires: expires) { try await compute(argument) }
        }
    }
}

/// Keys derived from a memoized function's argument.
public enum MemoKey {
    /// The key `memoize(prefix:)` uses for `argument`.
    ///
    /// ```swift
    /// try MemoKey.key(prefix: "price:", argument: "A-42")   // price:"A-42"
    /// ```
    public static func key<Argument: Encodable>(prefix: String, argument: Argument) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json: Data
        do {
            json = try encoder.encode(argument)
        } catch {
            throw StrataError(
                code: .encodingFailed, message: "cannot encode the memoized argument \(Argument.self) as JSON",
                underlying: error)
        }
        let text = String(decoding: json, as: UTF8.self)
        if prefix.utf8.count + text.utf8.count <= KeyRules.maximumKeyBytes { return prefix + text }
        return prefix + "#sha256:" + SHA256.hex(json)
    }
}
