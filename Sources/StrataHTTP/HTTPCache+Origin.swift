import Foundation
import Strata

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Talking to the origin: fetching once for concurrent callers, storing, revalidating.
extension HTTPCache {
    /// The origin's answer, shared with concurrent callers that asked for the same thing.
    struct SharedResult: Sendable {
        var response: Response
        var leader: UInt64
    }

    /// Fetches (or revalidates) once for all concurrent callers with the same URL and
    /// request fields. Callers that waited get the leader's response if it was stored or
    /// came from the store; otherwise (a `no-store` answer, say) each asks on its own. A
    /// caller that joined after an `invalidate(_:)` of the URL (or a `clear(prefix:)` or
    /// `clear()` of the store that covers it), whatever the answer, looks again
    /// (``lookAgain(_:after:servesNoRequest:)``); `looksAgain` counts how often it already has. A
    /// fetch that `servesNoRequest` (a background refresh) has no hit to look for, and
    /// none to count: overtaken, it fetches on its own.
    func fetchOnce(_ exchange: Exchange, lookup: Lookup, looksAgain: Int = 0, servesNoRequest: Bool = false) async throws -> Response {
        let token = background.withLock { work in
            work.nextID += 1
            return work.nextID
        }
        // The URL's storage key first, so that a change of the store under a prefix of it
        // is noted to the fetch; then this cache (caches over one store fetch apart: each
        // stores by its own configuration), then the request's fields.
        let flightKey =
            fetchKeyPrefix + exchange.urlKey + "\n" + String(UInt(bitPattern: ObjectIdentifier(self))) + "\n"
            + exchange.headers.fields
            .map { $0.name.lowercased() + ":" + $0.value }.sorted().joined(separator: "\n")
        // A request that joins after an `invalidate(_:)` of the URL or a clear of the store (noted to the flight) began
        // after it: the flight's response, stored or failed before it, is not its answer (R1).
        var overtaken = false
        let shared: SharedResult
        do {
            shared = try await SingleFlight.shared.run(scope: fetchScope, key: flightKey, overtaken: &overtaken) {
                do {
                    let response = try await fetchAndStore(exchange, lookup: lookup)
                    await PipelineGates.shared.pass(.afterFetch, key: exchange.urlKey, scope: ObjectIdentifier(self))
                    return SharedResult(response: response, leader: token)
                } catch {
                    await PipelineGates.shared.pass(.afterFetch, key: exchange.urlKey, scope: ObjectIdentifier(self))
                    throw error
                }
            }
        } catch is SingleFlight.OvertakenFailure {
            return try await lookAgain(exchange, after: looksAgain, servesNoRequest: servesNoRequest)
        }
        if shared.leader == token { return shared.response }
        if overtaken { return try await lookAgain(exchange, after: looksAgain, servesNoRequest: servesNoRequest) }
        if shared.response.isStored || shared.response.source != .network { return shared.response }
        return try await fetchAndStore(exchange, lookup: lookup)
    }

    /// How many looks again (after fetches it joined were overtaken by an invalidation) a
    /// request makes that may share a new fetch: the look after them still answers from
    /// the store when it may, but asks the origin on its own when it must.
    package static let maximumLooksAgain = 3

    /// A request that joined a fetch an `invalidate(_:)` of the URL overtook: it reads the
    /// store again (what it read before may be the removed response, whose validators it
    /// must not send), answers from it as a request beginning then would and, on a miss,
    /// may share a new fetch with the others that joined the old one, rather than each
    /// asking the origin on its own. After ``maximumLooksAgain`` such looks (the URL
    /// invalidated again and again), it asks on its own when it must ask.
    func lookAgain(_ exchange: Exchange, after looks: Int, servesNoRequest: Bool) async throws -> Response {
        try Task.checkCancellation()
        guard !servesNoRequest else { return try await fetchAndStore(exchange, lookup: await lookUp(exchange)) }
        return try await get(exchange, looksAgain: looks + 1)
    }

    func fetchAndStore(_ exchange: Exchange, lookup: Lookup) async throws -> Response {
        let stale = lookup.response
        // The response is stored under a lease on the URL's key: an `invalidate(_:)` (or any
        // change of the key) while the origin answers wins over the answer (the stale-set rule).
        let leased = await takeLease(exchange.urlKey)
        let lease = leased?.lease
        // What the URL's key held once the lease was taken is what a save builds on: the
        // Vary index the lookup read may be gone since (an `invalidate(_:)` between the two),
        // and writing it back would make its invalidated variants reachable again.
        var lookup = lookup
        if let leased { lookup.adoptIndex(leased.current, of: exchange.urlKey, decoded: decoded) }
        let answer: OriginAnswer
        do {
            answer = try await send(exchange.request, validatingWith: stale)
        } catch let error as StrataError {
            await release(lease, exchange.urlKey)
            if let response = staleOnError(stale, for: exchange) { return response }
            throw error
        } catch {
            await release(lease, exchange.urlKey)
            throw error
        }
        let now = store.clock.now()
        if answer.statusCode == 304, let stale {
            // RFC 9111 §4.3.4: the stored response, with the 304's header fields, is fresh again.
            var refreshed = stale
            var merged = stale.headers
            for field in answer.headers.fields where !Self.fieldsKeptOn304.contains(field.lowercasedName) {
                merged.set(field.name, field.value)
            }
            refreshed.headers = merged
            refreshed.requestTime = answer.requestTime
            refreshed.responseTime = answer.responseTime
            if let fixed = exchange.fixedLifetime { refreshed.fixedLifetime = fixed }
            // Stored only if the merged response may be (a 304's `no-store`, or the request's,
            // forbids it, RFC 9111 §3); one that now says `no-store` is removed, so that its
            // stored copy serves no request again, stale or not.
            let storable = isStorable(refreshed, for: exchange)
            let stored = storable ? await save(refreshed, for: exchange, lookup: lookup, at: now, lease: lease) : false
            if !storable {
                // Removed before the lease is released: a fetch that stores a new response
                // once the lease is gone is not removed with it.
                if refreshed.cacheControl.noStore, let storageKey = lookup.storageKey {
                    _ = try? await store.removeEntry(forKey: storageKey)
                }
                await release(lease, exchange.urlKey)
            }
            count(\.revalidations)
            return response(
                from: refreshed, for: exchange, age: refreshed.age(at: now), source: .revalidated,
                status: "fwd=stale; fwd-status=304\(stored ? "; stored" : "")", isStored: stored)
        }
        if [500, 502, 503, 504].contains(answer.statusCode), let response = staleOnError(stale, for: exchange) {
            await release(lease, exchange.urlKey)
            return response
        }
        let fetched = StoredHTTPResponse(
            .init(
                url: exchange.url.absoluteString,
                statusCode: answer.statusCode,
                headers: answer.headers,
                body: Data(answer.body),
                requestTime: answer.requestTime,
                responseTime: answer.responseTime,
                varyValues: answer.headers.list("vary").map { name in (name.lowercased(), Self.normalized(exchange.headers[name])) },
                fixedLifetime: exchange.fixedLifetime
            ))
        let stored = isStorable(fetched, for: exchange) ? await save(fetched, for: exchange, lookup: lookup, at: now, lease: lease) : false
        if !stored { await release(lease, exchange.urlKey) }
        let reason = stale != nil ? "stale" : (exchange.requiresValidation ? "request" : (lookup.varyMiss ? "vary-miss" : "uri-miss"))
        return Response(
            data: fetched.body,
            statusCode: fetched.statusCode,
            fields: withStatus(fetched.headers, "fwd=\(reason); fwd-status=\(answer.statusCode)\(stored ? "; stored" : "")"),
            url: exchange.url,
            source: .network,
            isStored: stored
        )
    }

    /// A lease on the URL's key and what the key held once it was taken, or `nil` when the
    /// store cannot give one (it is failing: the response is then not stored).
    func takeLease(_ key: String) async -> (lease: EntryLease, current: StoredEntry?)? {
        let lease = EntryLease.random()
        do {
            let current = try await store.leaseEntry(forKey: key, lease: lease, duration: EntryLease.defaultDuration)
            return (lease, current)
        } catch {
            count(\.storeFailures, key: key, error: error)
            return nil
        }
    }

    func release(_ lease: EntryLease?, _ key: String) async {
        if let lease { try? await store.releaseLease(lease, forKey: key) }
    }

    /// Fields a `304` must not overwrite (RFC 9111 §3.2): they describe the stored body,
    /// or only the connection the 304 came on.
    static let fieldsKeptOn304: Set<String> = [
        "content-length", "content-encoding", "content-range", "transfer-encoding",
        "connection", "keep-alive", "trailer", "upgrade", "te",
    ]

    /// A response as the origin sent it.
    struct OriginAnswer: Sendable {
        var statusCode: Int
        var headers: HeaderFields
        var body: [UInt8]
        var requestTime: Timestamp
        var responseTime: Timestamp
    }

    /// Sends a request to the origin, conditional on a stored response's validators.
    func send(_ request: URLRequest, validatingWith stored: StoredHTTPResponse?) async throws -> OriginAnswer {
        var outgoing = request
        if let stored {
            if let tag = stored.facts.etag { outgoing.setValue(tag, forHTTPHeaderField: "If-None-Match") }
            if let modified = stored.facts.lastModifiedText { outgoing.setValue(modified, forHTTPHeaderField: "If-Modified-Since") }
        }
        count(\.originRequests)
        let requestTime = store.clock.now()
        let answer: TransportAnswer
        do {
            answer = try await origin.send(outgoing)
        } catch {
            if error is CancellationError || Task.isCancelled { throw CancellationError() }
            let failure = StrataError(
                code: .originUnavailable,
                message: "the request to \(request.url?.absoluteString ?? "?") failed",
                backend: "HTTP origin \(request.url?.host ?? "?")",
                underlying: error
            )
            reporter.originFailed(failure)
            throw failure
        }
        return OriginAnswer(
            statusCode: answer.statusCode,
            headers: HeaderFields(answer.headers),
            body: answer.body,
            requestTime: requestTime,
            responseTime: store.clock.now()
        )
    }

    /// Sends a request straight to the origin and hands back its answer, storing nothing.
    func passThrough(_ exchange: Exchange, reason: String) async throws -> Response {
        let answer = try await send(exchange.request, validatingWith: nil)
        return Response(
            data: Data(answer.body),
            statusCode: answer.statusCode,
            fields: withStatus(answer.headers, "fwd=\(reason); fwd-status=\(answer.statusCode)"),
            url: exchange.url,
            source: .network,
            isStored: false
        )
    }
}
