import Strata

/// RFC 9111 §4.2: how long a stored response stays fresh, and how old it is now.
extension StoredHTTPResponse {
    /// Status codes a cache may store without explicit freshness (RFC 9110 §15.1), minus
    /// 206: this cache doesn't combine partial content.
    static let heuristicallyCacheableStatuses: Set<Int> = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]

    var cacheControl: CacheControl { self.facts.cacheControl }

    var hasValidators: Bool { self.facts.etag != nil || self.facts.lastModifiedText != nil }

    /// The `Vary` field names, lowercased.
    var varyFieldNames: [String] { self.facts.varyFieldNames }

    /// The response's `Date`, or when it was received if it has none (§4.2.3).
    private var dateValue: Int64 { self.facts.date ?? self.responseTime.millisecondsSince1970 }

    /// Whether the headers give a lifetime (`max-age` or `Expires`), as opposed to a heuristic one.
    var hasExplicitFreshness: Bool { self.facts.cacheControl.maxAge != nil || self.facts.expires != nil }

    /// The freshness lifetime in milliseconds (§4.2.1): a fixed lifetime given by the
    /// caller, else `max-age`, else `Expires` minus `Date` (an invalid `Expires` means
    /// already expired), else a heuristic share of the time since `Last-Modified` (§4.2.2).
    func freshnessLifetime(heuristicFraction: Double, heuristicLimit: Int64) -> Int64 {
        if let fixed = self.fixedLifetime { return fixed }
        let control = self.facts.cacheControl
        if let maxAge = control.maxAge { return maxAge * 1000 }
        if let expires = self.facts.expires {
            guard let expiresAt = expires else { return 0 }
            return max(0, expiresAt - dateValue)
        }
        guard Self.heuristicallyCacheableStatuses.contains(self.statusCode) || control.isPublic,
            let modified = self.facts.lastModified,
            heuristicFraction > 0
        else { return 0 }
        let sinceModified = Double(max(0, dateValue - modified))
        return min(heuristicLimit, Int64(sinceModified * heuristicFraction))
    }

    /// The current age in milliseconds (§4.2.3): the corrected initial age (from `Age`,
    /// `Date` and the request's round trip) plus the time the response has been stored.
    func age(at now: Timestamp) -> Int64 {
        let received = self.responseTime.millisecondsSince1970
        let apparentAge = max(0, received - dateValue)
        let ageValue = (self.facts.ageSeconds ?? 0) * 1000
        let responseDelay = max(0, received - self.requestTime.millisecondsSince1970)
        let correctedInitialAge = max(apparentAge, ageValue + responseDelay)
        return correctedInitialAge + max(0, now.millisecondsSince1970 - received)
    }

    /// Whether the response's directives allow serving it stale at all (§4.2.4): not with
    /// `must-revalidate` or `no-cache`, and not past a lifetime the caller fixed.
    var mayServeStale: Bool {
        let control = self.facts.cacheControl
        return self.fixedLifetime == nil && !control.mustRevalidate && !control.noCache
    }
}
