import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension HTTPCache {
    /// Where a response handed back by an ``HTTPCache`` came from.
    ///
    /// ```swift
    /// let response = try await cache.response(for: request)
    /// if response.source == .cache { ... }
    /// ```
    public enum Source: String, Sendable, CaseIterable {
        /// Served from the store, fresh, without contacting the origin.
        case cache
        /// Served from the store although stale: `stale-while-revalidate` (a refresh runs in
        /// the background), `stale-if-error` (the origin failed) or the request's `max-stale`.
        case stale
        /// The stored response was stale; the origin confirmed it with `304 Not Modified`,
        /// and the stored body was returned with a renewed lifetime.
        case revalidated
        /// Fetched from the origin.
        case network

        /// Reads the source from the `Cache-Status` field (RFC 9211) that ``HTTPCache`` adds
        /// to every response it hands back; nil for a response that didn't pass through one.
        ///
        /// ```swift
        /// let (data, response) = try await cache.data(for: request)
        /// HTTPCache.Source(response)   // .cache on the second call
        /// ```
        public init?(_ response: HTTPURLResponse) {
            guard let status = response.value(forHTTPHeaderField: "Cache-Status"),
                let ours = status.split(separator: ",").last(where: { $0.trimmingWhitespace.hasPrefix(HTTPCache.cacheName) })
            else { return nil }
            let parameters = ours.split(separator: ";").map { $0.trimmingWhitespace }
            if parameters.contains("hit") {
                self = parameters.contains { $0.hasPrefix("detail=stale") || $0.hasPrefix("detail=max-stale") } ? .stale : .cache
            } else if parameters.contains("fwd-status=304") {
                self = .revalidated
            } else {
                self = .network
            }
        }
    }

    /// A response handed back by an ``HTTPCache``: the body, status and header fields, and
    /// where it came from.
    ///
    /// ```swift
    /// let response = try await cache.response(for: URLRequest(url: url))
    /// print(response.statusCode, response.source, response.isStored)
    /// ```
    public struct Response: Sendable {
        /// The body: the stored body for `.cache`, `.stale` and `.revalidated`.
        public var data: Data
        /// The status code (the stored one, 200 say, after a `304` revalidation).
        public var statusCode: Int
        /// The header fields, with `Age` for stored responses and `Cache-Status` (RFC 9211).
        public var headerFields: [String: String] { fields.dictionary }
        /// The fields in their order; the dictionary above is built only when asked for.
        var fields: HeaderFields
        /// The requested URL.
        public var url: URL
        /// Where the response came from.
        public var source: Source
        /// Whether the response is now in the store (just written, or served from it).
        public var isStored: Bool

        /// The response as Foundation's type, as `URLSession.data(for:)` returns it.
        ///
        /// ```swift
        /// let http = response.httpResponse
        /// http.value(forHTTPHeaderField: "Cache-Status")   // "Strata; hit; ttl=59"
        /// ```
        public var httpResponse: HTTPURLResponse {
            HTTPURLResponse(url: url, statusCode: statusCode, httpVersion: "HTTP/1.1", headerFields: headerFields)!
        }

        /// The value of a header field, its name compared with ASCII letters in either case
        /// (field names are ASCII tokens).
        ///
        /// ```swift
        /// response.value(forHeader: "etag")
        /// ```
        public func value(forHeader name: String) -> String? {
            fields[name]
        }
    }
}
