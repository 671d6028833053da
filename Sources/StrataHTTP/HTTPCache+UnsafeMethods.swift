import Foundation
import Strata

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// HEAD answered from a stored GET, and the invalidations unsafe methods cause (RFC 9111 §4.4).
extension HTTPCache {
    /// HEAD is answered from a fresh stored GET response (RFC 9110 §9.3.2), else sent on.
    func head(_ exchange: Exchange) async throws -> Response {
        if !exchange.bypassesCache, let cached = await lookUp(exchange).response {
            let freshness = freshness(of: cached, at: store.clock.now())
            if case .fresh = decide(cached, freshness, for: exchange) {
                count(\.hits)
                var response = hit(cached, freshness, for: exchange)
                response.data = Data()
                return response
            }
        }
        return try await passThrough(exchange, reason: "method")
    }

    /// Unsafe methods always go to the origin; a successful one invalidates the URL and the
    /// same-origin URLs in `Location` and `Content-Location` (RFC 9111 §4.4).
    func unsafe(_ exchange: Exchange) async throws -> Response {
        let response = try await passThrough(exchange, reason: "method")
        guard (200..<400).contains(response.statusCode) else { return response }
        var targets = [exchange.url]
        for name in ["location", "content-location"] {
            if let value = response.value(forHeader: name), let target = URL(string: value, relativeTo: exchange.url)?.absoluteURL,
                target.host?.lowercased() == exchange.url.host?.lowercased(), target.scheme == exchange.url.scheme,
                target.port == exchange.url.port
            {
                targets.append(target)
            }
        }
        for target in targets {
            do {
                try await invalidate(target)
            } catch {
                // The unsafe request itself succeeded; failing it now would invite a retry.
                count(\.storeFailures, key: target.absoluteString, error: error)
            }
        }
        return response
    }
}
