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
        var fields: HeaderFields { hitStamp.map { $0.stamped(on: baseFields) } ?? baseFields }
        /// The fields as stored or fetched: a hit shares the stored response's, unchanged.
        private var baseFields: HeaderFields
        /// A hit's `Age` and `Cache-Status`, written into the fields only when they are read:
        /// a caller that reads the body alone builds none of their strings (a third of a
        /// fresh hit's time when they were built for every hit: BenchmarkHistory.md,
        /// 2026-12-08). Each read builds them again (`headerFields` and `httpResponse` copy the
        /// stored fields too): a caller that reads them often keeps what it read.
        private var hitStamp: HitStamp?
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
            guard let hitStamp else { return baseFields[name] }
            return hitStamp.value(forHeader: name, on: baseFields)
        }

        /// A response built from its fields as they are.
        init(data: Data, statusCode: Int, fields: HeaderFields, url: URL, source: Source, isStored: Bool) {
            self.init(data: data, statusCode: statusCode, baseFields: fields, hitStamp: nil, url: url, source: source, isStored: isStored)
        }

        /// A hit: the stored fields, and the `Age` and `Cache-Status` to add when they are read.
        init(data: Data, statusCode: Int, storedFields: HeaderFields, hit: HitStamp, url: URL, source: Source) {
            self.init(data: data, statusCode: statusCode, baseFields: storedFields, hitStamp: hit, url: url, source: source, isStored: true)
        }

        private init(data: Data, statusCode: Int, baseFields: HeaderFields, hitStamp: HitStamp?, url: URL, source: Source, isStored: Bool) {
            self.data = data
            self.statusCode = statusCode
            self.baseFields = baseFields
            self.hitStamp = hitStamp
            self.url = url
            self.source = source
            self.isStored = isStored
        }
    }

    /// What a hit adds to the stored fields: its `Age`, replacing any stored one, and this
    /// cache's member at the end of `Cache-Status` (RFC 9211 §2), after any stored one.
    struct HitStamp: Sendable {
        /// The response's age, in milliseconds.
        var age: Int64
        /// How long it stays fresh, in milliseconds (negative: stale by that much).
        var freshFor: Int64
        /// Why a stale response was served (`detail=`); nil for a fresh hit.
        var staleBecause: String?

        /// The `Age` field's value, in whole seconds (RFC 9111 §5.1).
        var ageValue: String { Self.ageValue(age) }

        /// The `Age` field's value for an age of `milliseconds`.
        static func ageValue(_ milliseconds: Int64) -> String { String(max(0, milliseconds / 1000)) }

        /// This cache's `Cache-Status` member: `Strata; hit; ttl=<seconds>[; detail=<why>]`.
        var member: String {
            var member = HTTPCache.cacheName
            member += "; hit; ttl="
            member += String(freshFor / 1000)
            if let staleBecause {
                member += "; detail="
                member += staleBecause
            }
            return member
        }

        /// `fields` with `Age` set and this cache's `Cache-Status` member added.
        func stamped(on fields: HeaderFields) -> HeaderFields {
            HTTPCache.stamped(fields, age: ageValue, member: member)
        }

        /// The value `stamped(on: fields)[name]` has, without building the fields.
        func value(forHeader name: String, on fields: HeaderFields) -> String? {
            if HeaderFields.named(name, "age") { return ageValue }
            if HeaderFields.named(name, "cache-status") { return fields[name].map { $0 + ", " + member } ?? member }
            return fields[name]
        }
    }
}
