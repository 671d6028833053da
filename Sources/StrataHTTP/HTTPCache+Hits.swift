import Foundation
import Strata
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The responses handed back to callers: a hit with its `Cache-Status`, and the counters.
extension HTTPCache {
    /// A response served from the store: `.cache` when fresh, `.stale` with the reason it
    /// may be served stale. Its `Age` and `Cache-Status` are written when its fields are read.
    func hit(
        _ cached: StoredHTTPResponse, _ freshness: Freshness, for exchange: Exchange, staleBecause reason: String? = nil
    ) -> Response {
        Response(
            data: cached.body,
            statusCode: cached.statusCode,
            storedFields: cached.headers,
            hit: HitStamp(age: freshness.age, freshFor: freshness.lifetime - freshness.age, staleBecause: reason),
            url: exchange.url,
            source: reason == nil ? .cache : .stale
        )
    }

    /// A stored response with its `Age` and this cache's `status` written into its fields now
    /// (a revalidated response: the origin was asked, so building them costs little beside).
    func response(
        from cached: StoredHTTPResponse, for exchange: Exchange, age: Int64, source: Source, status: String, isStored: Bool
    ) -> Response {
        let headers = Self.stamped(cached.headers, age: HitStamp.ageValue(age), member: Self.cacheName + "; " + status)
        return Response(
            data: cached.body, statusCode: cached.statusCode, fields: headers, url: exchange.url, source: source, isStored: isStored)
    }

    /// Adds this cache's member to the response's `Cache-Status` list (RFC 9211 §2).
    func withStatus(_ headers: HeaderFields, _ status: String) -> HeaderFields {
        var headers = headers
        addStatus(status, to: &headers)
        return headers
    }

    /// ``withStatus(_:_:)`` in place.
    func addStatus(_ status: String, to headers: inout HeaderFields) {
        var member = Self.cacheName
        member += "; "
        member += status
        Self.addStatusMember(member, to: &headers)
    }

    /// `fields` with `Age` set to `age` (any stored one replaced) and `member` added at the end
    /// of `Cache-Status`: what a response from the store carries.
    static func stamped(_ fields: HeaderFields, age: String, member: String) -> HeaderFields {
        var fields = fields
        fields.reserveCapacity(fields.fields.count + 2)  // one copy of the stored fields, not one per field added
        fields.set("Age", age)
        addStatusMember(member, to: &fields)
        return fields
    }

    /// Adds `member` (this cache's name and parameters) at the end of `Cache-Status`.
    static func addStatusMember(_ member: String, to headers: inout HeaderFields) {
        if let earlier = headers["cache-status"] {
            headers.set("Cache-Status", earlier + ", " + member)
        } else {
            headers.append("Cache-Status", member)  // none to replace: no search to remove one
        }
    }

    /// Counts one more of `field` in the statistics (and in metrics, when reported); a
    /// store failure's or corrupt entry's `error` is logged, when a logger is configured.
    func count(_ field: WritableKeyPath<Statistics, Int>, key: String? = nil, error: (any Error)? = nil) {
        counters.withLock { $0[keyPath: field] += 1 }
        reporter.counted(field, key: key, error: error)
    }
}
