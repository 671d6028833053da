import Foundation
import Strata

/// How responses are laid out in the store.
///
/// A URL's key (`<prefix><normalized URL>`) holds its response, or, when responses vary,
/// a ``VaryIndex``; each variant then lives at
/// `<URL key> vary <generation> <SHA-256 of the request's values of the Vary fields>`.
extension HTTPCache {
    /// What the store holds for a request.
    struct Lookup: Sendable {
        var response: StoredHTTPResponse?
        var index: VaryIndex?
        var indexExpiresAt: Timestamp?
        /// Where `response` was found.
        var storageKey: String?
        /// The URL had variants, none for this request's fields.
        var varyMiss = false

        /// Takes the Vary index from `current`, what the URL's key held when a lease on it
        /// was taken: no index when it holds none (or what it holds cannot be read), so that
        /// a save under the lease starts a new generation rather than write back an index
        /// removed since the lookup (with it, the variants it reached).
        mutating func adoptIndex(_ current: StoredEntry?, of key: String, decoded: DecodedEntries) {
            guard let current, case .varyIndex(let held)? = try? decoded.entry(forKey: key, decoding: current.bytes) else {
                index = nil
                indexExpiresAt = nil
                return
            }
            index = held
            indexExpiresAt = current.expiresAt
        }
    }

    /// Reads the stored response for a request. Unreadable entries are misses: a store
    /// that fails is counted and bypassed, a corrupt entry is counted and removed.
    func lookUp(_ exchange: Exchange) async -> Lookup {
        var lookup = Lookup()
        guard let top = await read(exchange.urlKey) else { return lookup }
        switch top.entry {
        case .response(let response):
            // A response stored without Vary serves every request for the URL.
            lookup.response = response
            lookup.storageKey = exchange.urlKey
        case .varyIndex(let index):
            lookup.index = index
            lookup.indexExpiresAt = top.expiresAt
            let values = index.fieldNames.map { Self.normalized(exchange.headers[$0]) }
            let key = Self.variantKey(exchange.urlKey, index: index, values: values)
            if let variant = await read(key), case .response(let response) = variant.entry,
                response.varyValues.map(\.0) == index.fieldNames, response.varyValues.map(\.1) == values
            {
                lookup.response = response
                lookup.storageKey = key
            } else {
                lookup.varyMiss = true
            }
        }
        return lookup
    }

    private func read(_ key: String) async -> (entry: StoredHTTPEntry, expiresAt: Timestamp?)? {
        let stored: StoredEntry?
        do {
            stored = try await store.entry(forKey: key)
        } catch {
            count(\.storeFailures, key: key, error: error)
            return nil
        }
        guard let stored else { return nil }
        do {
            return (try decoded.entry(forKey: key, decoding: stored.bytes), stored.expiresAt)
        } catch {
            count(\.corruptEntries, key: key, error: error)
            _ = try? await store.removeEntry(forKey: key)
            return nil
        }
    }

    /// Whether a response may be stored (RFC 9111 §3), and is worth storing.
    func isStorable(_ response: StoredHTTPResponse, for exchange: Exchange) -> Bool {
        let control = response.cacheControl
        guard !exchange.control.noStore,
            response.body.count <= configuration.maximumBodySize,
            response.statusCode >= 200, response.statusCode != 206,
            !response.varyFieldNames.contains("*")
        else { return false }
        if response.fixedLifetime != nil {
            // `expires:` overrides the headers, but an outage is never pinned for a lifetime.
            return response.statusCode < 500
        }
        // RFC 9111 §3: explicit freshness, `public`, or a status cacheable by default.
        return !control.noStore
            && (response.hasExplicitFreshness || control.isPublic
                || StoredHTTPResponse.heuristicallyCacheableStatuses.contains(response.statusCode))
    }

    /// The store lifetime in milliseconds: the rest of the freshness lifetime, plus the
    /// longest time the response may still be useful stale (served under
    /// `stale-while-revalidate` / `stale-if-error`, or revalidated thanks to a validator).
    func storeLifetime(of response: StoredHTTPResponse, at now: Timestamp) -> Int64 {
        let freshness = freshness(of: response, at: now)
        let remaining = freshness.lifetime - freshness.age
        // A lifetime given with `expires:` is the whole story: no stale use extends it.
        if response.fixedLifetime != nil { return remaining }
        let control = response.cacheControl
        var staleUse: Int64 = 0
        if response.mayServeStale {
            staleUse = max(control.staleWhileRevalidate ?? 0, control.staleIfError ?? 0) * 1000
        }
        if response.hasValidators { staleUse = max(staleUse, staleRetention) }
        return remaining + staleUse
    }

    /// Writes a response (and its URL's Vary index) under `lease` on the URL's key; false
    /// when it isn't worth keeping, the store failed, or the URL's key changed since the
    /// lease was taken (an `invalidate(_:)` during the fetch wins; a variant written then is
    /// left unreachable, under an index of its own).
    func save(
        _ response: StoredHTTPResponse, for exchange: Exchange, lookup: Lookup, at now: Timestamp, lease: EntryLease?
    ) async -> Bool {
        let lifetime = storeLifetime(of: response, at: now)
        guard lifetime > 0, let lease else { return false }
        let expiresAt = lifetime >= Self.forever / 2 ? nil : now.adding(milliseconds: lifetime)
        do {
            let names = response.varyValues.map(\.0)
            var written = true
            if names.isEmpty {
                let entry = StoredEntry(bytes: StoredHTTPEntry.response(response).encoded(), expiresAt: expiresAt)
                written = try await store.setEntry(entry, forKey: exchange.urlKey, ifLeased: lease, keepingLease: false)
            } else {
                let index =
                    lookup.index.flatMap { $0.fieldNames == names ? $0 : nil }
                    ?? VaryIndex(generation: UInt64.random(in: 1...UInt64.max), fieldNames: names)
                let key = Self.variantKey(exchange.urlKey, index: index, values: response.varyValues.map(\.1))
                try await store.setEntry(
                    StoredEntry(bytes: StoredHTTPEntry.response(response).encoded(), expiresAt: expiresAt), forKey: key)
                if index != lookup.index || Self.outlives(expiresAt, lookup.indexExpiresAt) {
                    let entry = StoredEntry(bytes: StoredHTTPEntry.varyIndex(index).encoded(), expiresAt: expiresAt)
                    written = try await store.setEntry(entry, forKey: exchange.urlKey, ifLeased: lease, keepingLease: false)
                } else {
                    try? await store.releaseLease(lease, forKey: exchange.urlKey)
                }
            }
            guard written else {
                count(\.staleStoresRefused, key: exchange.urlKey)
                return false
            }
            count(\.stores)
            return true
        } catch {
            count(\.storeFailures, key: exchange.urlKey, error: error)
            return false
        }
    }

    /// Whether a write expiring at `new` outlives an entry expiring at `old` (nil: never).
    private static func outlives(_ new: Timestamp?, _ old: Timestamp?) -> Bool {
        guard let old else { return false }
        guard let new else { return true }
        return new > old
    }

    // MARK: - Keys

    /// `<prefix><URL>` with the scheme and host lowercased, the default port and the
    /// fragment dropped; URLs too long to be keys are replaced by their SHA-256.
    static func key(for url: URL, prefix: String) -> String {
        key(for: url, text: url.absoluteString, prefix: prefix)
    }

    /// ``key(for:prefix:)`` given the URL's `absoluteString`, read once by the caller.
    static func key(for url: URL, text: String, prefix: String) -> String {
        var text = text
        if !isNormalized(text), var components = URLComponents(url: url, resolvingAgainstBaseURL: true) {
            components.fragment = nil
            components.scheme = components.scheme?.lowercased()
            components.host = components.host?.lowercased()
            if (components.scheme == "http" && components.port == 80) || (components.scheme == "https" && components.port == 443) {
                components.port = nil
            }
            if components.path.isEmpty { components.path = "/" }
            text = components.string ?? text
        }
        // 900 leaves room for the variant suffix within KeyRules.maximumKeyBytes.
        if prefix.utf8.count + text.utf8.count > 900 { return prefix + "sha256 " + SHA256.hex(Array(text.utf8)) }
        return prefix + text
    }

    /// Whether a URL's text starts with `http:` or `https:`, ASCII letters in either case.
    static func hasHTTPScheme(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            func lowered(_ index: Int) -> UInt8 { bytes[index] | 0x20 }  // ':' (0x3A) is unchanged by it
            guard bytes.count >= 5, lowered(0) == UInt8(ascii: "h"), lowered(1) == UInt8(ascii: "t"), lowered(2) == UInt8(ascii: "t"),
                lowered(3) == UInt8(ascii: "p")
            else { return false }
            return bytes[4] == UInt8(ascii: ":") || (bytes.count >= 6 && lowered(4) == UInt8(ascii: "s") && bytes[5] == UInt8(ascii: ":"))
        }
    }

    /// Whether a URL's text is already in key form (lowercase scheme and host, no default
    /// port, no fragment, a path): the usual case, checked without URLComponents.
    static func isNormalized(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { isNormalized(bytes: $0) }  // the string's own bytes: no array per hit
    }

    /// One pass over the bytes, each loop by index: the same checks written with slices and
    /// closures (`firstIndex(where:)`, `contains(where:)`, a reversed suffix) cost 4% of a
    /// fresh hit. No `#` anywhere, as before.
    private static func isNormalized(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = bytes.count
        // The scheme, lowercase, then "://".
        var index = 0
        while index < count, bytes[index] != UInt8(ascii: ":") {
            if isUppercase(bytes[index]) || bytes[index] == UInt8(ascii: "#") { return false }
            index += 1
        }
        guard index + 2 < count, bytes[index + 1] == UInt8(ascii: "/"), bytes[index + 2] == UInt8(ascii: "/") else { return false }
        // The authority, lowercase and without user information, up to the path's "/".
        let authorityStart = index + 3
        index = authorityStart
        while index < count, bytes[index] != UInt8(ascii: "/") {
            let byte = bytes[index]
            if isUppercase(byte) || byte == UInt8(ascii: "@") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#") { return false }
            index += 1
        }
        guard index < count else { return false }  // no path
        func authorityEnds(with suffix: StaticString) -> Bool {
            let length = suffix.utf8CodeUnitCount
            guard index - authorityStart >= length else { return false }
            for offset in 0..<length where bytes[index - length + offset] != suffix.utf8Start[offset] { return false }
            return true
        }
        if authorityEnds(with: ":80") || authorityEnds(with: ":443") { return false }
        // No fragment.
        while index < count {
            if bytes[index] == UInt8(ascii: "#") { return false }
            index += 1
        }
        return true
    }

    private static func isUppercase(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") }

    static func variantKey(_ urlKey: String, index: VaryIndex, values: [String?]) -> String {
        var material: [UInt8] = []
        for (name, value) in zip(index.fieldNames, values) {
            material += Array(name.utf8) + [0]
            // Absent and empty are different requests.
            material += value.map { [1] + Array($0.utf8) } ?? [2]
            material.append(0)
        }
        return urlKey + " vary " + String(index.generation, radix: 16) + " " + SHA256.hex(material)
    }
}
