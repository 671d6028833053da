import Foundation
import Strata

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One GET through the cache: the request as the cache sees it, the stored response's
/// freshness, and the decision to answer from the store or ask the origin.
extension HTTPCache {
    /// One request on its way through the cache.
    struct Exchange: Sendable {
        var request: URLRequest
        var url: URL
        var urlKey: String
        var headers: HeaderFields
        var fixedLifetime: Int64?
        /// The request's `Cache-Control`, parsed once.
        let control: CacheControl
        /// `no-cache` on the request; `Pragma: no-cache` counts only without `Cache-Control`
        /// (RFC 9111 §5.4).
        let requiresValidation: Bool

        init(request: URLRequest, url: URL, urlKey: String, headers: HeaderFields, fixedLifetime: Int64?) {
            self.request = request
            self.url = url
            self.urlKey = urlKey
            self.headers = headers
            self.fixedLifetime = fixedLifetime
            let cacheControl = headers["cache-control"]
            control = CacheControl(cacheControl)
            requiresValidation =
                control.noCache
                || (cacheControl == nil && headers.list("pragma").contains { $0.lowercased() == "no-cache" })
        }

        /// Conditional and range requests are the caller's own business: they go to the
        /// origin as they are, and their answers (`304`, `206`) aren't stored.
        var bypassesCache: Bool {
            headers.fields.contains { field in Self.bypassingFields.contains { HeaderFields.named(field.name, $0) } }
        }

        /// The fields that make a request ``bypassesCache``.
        static let bypassingFields = ["range", "if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range"]
    }

    /// A stored response's age and freshness lifetime at one instant, in milliseconds.
    struct Freshness {
        var age: Int64
        var lifetime: Int64
    }

    func freshness(of cached: StoredHTTPResponse, at now: Timestamp) -> Freshness {
        Freshness(
            age: cached.age(at: now),
            lifetime: cached.freshnessLifetime(heuristicFraction: configuration.heuristicFraction, heuristicLimit: heuristicLimit))
    }

    enum Decision {
        case fresh
        case stale(detail: String)
        case staleWhileRevalidate
        case revalidate
    }

    /// `looksAgain`: how often this request already looked again after a fetch it joined
    /// was overtaken by an invalidation (``lookAgain(_:after:servesNoRequest:)``); past
    /// ``maximumLooksAgain``, a request that must ask the origin asks on its own rather than
    /// join another fetch.
    func get(_ exchange: Exchange, looksAgain: Int = 0) async throws -> Response {
        if exchange.bypassesCache { return try await passThrough(exchange, reason: "bypass") }
        let lookup = await lookUp(exchange)
        if let cached = lookup.response, let answer = answer(from: cached, lookup, for: exchange) { return answer }
        guard looksAgain <= Self.maximumLooksAgain else { return try await fetchAndStore(exchange, lookup: lookup) }
        return try await fetchOnce(exchange, lookup: lookup, looksAgain: looksAgain)
    }

    /// The answer from `cached` when it may serve the request (a fresh or a stale hit);
    /// `nil` when the origin must be asked.
    private func answer(from cached: StoredHTTPResponse, _ lookup: Lookup, for exchange: Exchange) -> Response? {
        let freshness = freshness(of: cached, at: store.clock.now())
        switch decide(cached, freshness, for: exchange) {
        case .fresh:
            count(\.hits)
            return hit(cached, freshness, for: exchange)
        case .stale(let detail):
            count(\.staleHits)
            return hit(cached, freshness, for: exchange, staleBecause: detail)
        case .staleWhileRevalidate:
            count(\.staleHits)
            refreshInBackground(exchange, lookup: lookup)
            return hit(cached, freshness, for: exchange, staleBecause: "stale-while-revalidate")
        case .revalidate:
            return nil
        }
    }

    func decide(_ cached: StoredHTTPResponse, _ freshness: Freshness, for exchange: Exchange) -> Decision {
        let control = exchange.control
        let (age, lifetime) = (freshness.age, freshness.lifetime)
        let mustValidate = exchange.requiresValidation || (cached.cacheControl.noCache && cached.fixedLifetime == nil)
        if mustValidate { return .revalidate }
        let fresh =
            age < lifetime
            && control.maxAge.map { age <= $0 * 1000 } ?? true
            && control.minFresh.map { lifetime - age >= $0 * 1000 } ?? true
        if fresh { return .fresh }
        guard cached.mayServeStale else { return .revalidate }
        let staleness = age - lifetime
        if let maxStale = control.maxStale, staleness <= maxStale * 1000 { return .stale(detail: "max-stale") }
        // stale-while-revalidate serves a response past its lifetime to a request that asks
        // for no fresher one: a request's max-age or min-fresh says the client does not want
        // a response that fails them (RFC 9111 §5.2.1.1, §5.2.1.3), so it waits for the origin.
        if staleness >= 0, control.maxAge == nil, control.minFresh == nil,
            let window = cached.cacheControl.staleWhileRevalidate, staleness <= window * 1000
        {
            return .staleWhileRevalidate
        }
        return .revalidate
    }

    /// Whether a stale response may stand in for a failed origin (RFC 5861 §4): the
    /// response's or the request's `stale-if-error` window covers how stale it is.
    func mayServeOnError(_ cached: StoredHTTPResponse, _ freshness: Freshness, for exchange: Exchange) -> Bool {
        guard cached.mayServeStale, let window = exchange.control.staleIfError ?? cached.cacheControl.staleIfError else {
            return false
        }
        return freshness.age - freshness.lifetime <= window * 1000
    }

    /// The stale response standing in for a failed origin, if `stale-if-error` allows it.
    func staleOnError(_ stale: StoredHTTPResponse?, for exchange: Exchange) -> Response? {
        guard let stale else { return nil }
        let freshness = freshness(of: stale, at: store.clock.now())
        guard mayServeOnError(stale, freshness, for: exchange) else { return nil }
        count(\.staleHits)
        return hit(stale, freshness, for: exchange, staleBecause: "stale-if-error")
    }
}
