import Foundation
import StrataHTTP
import StrataSQLite
import StrataTestSupport
import StrataTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// HTTPCache against a real HTTP/1.1 server on 127.0.0.1 (LoopbackHTTPServer), through a
/// real URLSession. Lifetimes are driven by a manual clock shared by the cache's store.
@Suite("HTTPCache")
struct HTTPCacheTests {
    // MARK: - Freshness

    @Test("max-age: fresh responses come from the store, with Age and Cache-Status, until they go stale", arguments: Transport.all)
    func maxAge(transport: Transport) async throws {
        let h = try Harness(transport: transport) { _ in .init(headers: [("Cache-Control", "max-age=60")], body: body("hello")) }
        let first = try await h.get("/a")
        #expect(first.source == .network && first.isStored && first.text == "hello")
        #expect(first.value(forHeader: "cache-status") == "Strata; fwd=uri-miss; fwd-status=200; stored")

        h.advance(seconds: 30)
        let second = try await h.get("/a")
        #expect(second.source == .cache && second.text == "hello" && second.statusCode == 200)
        #expect(h.hits("/a") == 1)
        let age = try #require(second.value(forHeader: "age").flatMap { Int($0) })
        #expect((30...31).contains(age))
        // The one-line form carries the same information in the Foundation response.
        let (data, response) = try await h.cache.data(for: h.request("/a"))
        #expect(String(decoding: data, as: UTF8.self) == "hello")
        #expect(HTTPCache.Source(response) == .cache)

        h.advance(seconds: 31)
        let third = try await h.get("/a")
        #expect(third.source == .network)
        #expect(h.hits("/a") == 2)
    }

    @Test("a hit's Age replaces the origin's and its Cache-Status member follows an upstream cache's, read any way")
    func hitFields() async throws {
        let h = try Harness(transport: .urlSession) { _ in
            .init(
                headers: [
                    ("Cache-Control", "max-age=60"), ("Age", "5"), ("Cache-Status", "Upstream; hit"), ("X-Kept", "yes"), ("ETag", "\"e\""),
                ],
                body: body("x"))
        }
        _ = try await h.get("/a")
        h.advance(seconds: 30)
        let hit = try await h.get("/a")
        #expect(hit.source == .cache)
        // The fields are written when read: every way of reading them agrees, and none holds
        // the origin's Age beside the cache's (repeated fields would be joined: "5, 35").
        // The origin's Age (5 s) and 30 s stored, on the store's manual clock: exactly 35 s.
        let age = try #require(hit.value(forHeader: "AGE"))
        #expect(age == "35")
        let status = "Upstream; hit, Strata; hit; ttl=25"
        #expect(hit.value(forHeader: "cache-status") == status)
        #expect(hit.value(forHeader: "x-kept") == "yes")
        #expect(hit.headerFields["Age"] == age)
        #expect(hit.headerFields["Cache-Status"] == status)
        #expect(hit.headerFields["X-Kept"] == "yes")
        #expect(hit.httpResponse.value(forHTTPHeaderField: "Age") == age)
        #expect(hit.httpResponse.value(forHTTPHeaderField: "Cache-Status") == status)
        #expect(HTTPCache.Source(hit.httpResponse) == .cache)

        h.advance(seconds: 40)  // stale by 15 s (kept for its validator): a request that accepts it gets it
        var request = h.request("/a")
        request.setValue("max-stale=60", forHTTPHeaderField: "Cache-Control")
        let stale = try await h.cache.response(for: request)
        #expect(stale.source == .stale)
        let staleStatus = try #require(stale.value(forHeader: "Cache-Status"))
        #expect(staleStatus == "Upstream; hit, Strata; hit; ttl=-15; detail=max-stale")
        #expect(stale.value(forHeader: "age") == "75")
        #expect(stale.headerFields["Cache-Status"] == staleStatus)
        #expect(HTTPCache.Source(stale.httpResponse) == .stale)
    }

    @Test("Expires and Date give the lifetime; an invalid Expires means already stale", arguments: Transport.all)
    func expiresAndDate(transport: Transport) async throws {
        let h = try Harness(transport: transport) { request in
            let now = Int(Date().timeIntervalSince1970)
            let expires = request.path == "/invalid" ? "0" : LoopbackHTTPServer.httpDate(now + 100)
            return .init(headers: [("Date", LoopbackHTTPServer.httpDate(now)), ("Expires", expires)], body: body("x"))
        }
        _ = try await h.get("/valid")
        h.advance(seconds: 90)
        #expect(try await h.get("/valid").source == .cache)
        h.advance(seconds: 20)
        #expect(try await h.get("/valid").source == .network)
        #expect(h.hits("/valid") == 2)

        let invalid = try await h.get("/invalid")
        #expect(invalid.source == .network && !invalid.isStored)
        #expect(try await h.get("/invalid").source == .network)
        #expect(h.hits("/invalid") == 2)
    }

    @Test("Age from an upstream cache counts against the lifetime", arguments: Transport.all)
    func ageHeader(transport: Transport) async throws {
        let h = try Harness(transport: transport) { _ in .init(headers: [("Cache-Control", "max-age=60"), ("Age", "50")], body: body("x")) }
        _ = try await h.get("/a")
        h.advance(seconds: 5)
        #expect(try await h.get("/a").source == .cache)
        h.advance(seconds: 10)
        #expect(try await h.get("/a").source == .network)
    }

    @Test("no-store is never stored; no-cache is stored but revalidated on every use", arguments: Transport.all)
    func noStoreAndNoCache(transport: Transport) async throws {
        let h = try Harness(transport: transport) { request in
            if request.path == "/no-store" { return .init(headers: [("Cache-Control", "no-store, max-age=60")], body: body("secret")) }
            if request.header("if-none-match") == "\"v1\"" { return .init(status: 304, headers: [("ETag", "\"v1\"")]) }
            return .init(headers: [("Cache-Control", "no-cache"), ("ETag", "\"v1\"")], body: body("checked"))
        }
        #expect(try await h.get("/no-store").isStored == false)
        #expect(try await h.get("/no-store").source == .network)
        #expect(h.hits("/no-store") == 2)

        #expect(try await h.get("/no-cache").isStored)
        let second = try await h.get("/no-cache")
        #expect(second.source == .revalidated && second.text == "checked")
        #expect(h.origin.requests(path: "/no-cache").last?.header("if-none-match") == "\"v1\"")
    }

    @Test("status codes: cacheable by default, others only with explicit freshness, 5xx never by heuristics", arguments: Transport.all)
    func statusCodes(transport: Transport) async throws {
        let tenDaysAgo = LoopbackHTTPServer.httpDate(Int(Date().timeIntervalSince1970) - 10 * 86_400)
        let h = try Harness(transport: transport) { request in
            switch request.path {
            case "/missing": .init(status: 404, headers: [("Cache-Control", "max-age=60")])
            case "/created": .init(status: 201, headers: [("Last-Modified", tenDaysAgo)])
            case "/created-fresh": .init(status: 201, headers: [("Cache-Control", "max-age=60")])
            case "/failing": .init(status: 500, headers: [("Last-Modified", tenDaysAgo)])
            case "/heuristic": .init(headers: [("Last-Modified", tenDaysAgo)], body: body("old"))
            default: .init(body: body("no caching headers"))
            }
        }
        #expect(try await h.get("/missing").isStored)
        #expect(try await h.get("/missing").source == .cache)
        #expect(try await h.get("/created").isStored == false)
        #expect(try await h.get("/created-fresh").isStored)
        #expect(try await h.get("/failing").isStored == false)
        #expect(try await h.get("/plain").isStored == false)
        // Heuristic freshness: 10% of the ten days since Last-Modified, capped at one day.
        #expect(try await h.get("/heuristic").isStored)
        h.advance(seconds: 23 * 3600)
        #expect(try await h.get("/heuristic").source == .cache)
        h.advance(seconds: 2 * 3600)
        #expect(try await h.get("/heuristic").source == .revalidated || h.hits("/heuristic") == 2)
        #expect(h.hits("/heuristic") == 2)
    }

    // MARK: - Vary

    @Test("Vary: each request-field value gets its own stored variant; Vary: * is never stored", arguments: Transport.all)
    func vary(transport: Transport) async throws {
        let h = try Harness(transport: transport) { request in
            if request.path == "/star" { return .init(headers: [("Cache-Control", "max-age=60"), ("Vary", "*")], body: body("?")) }
            return .init(
                headers: [("Cache-Control", "max-age=60"), ("Vary", "X-Language")],
                body: body("hello in " + (request.header("x-language") ?? "default"))
            )
        }
        let english = try await h.get("/greeting", headers: ["X-Language": "en"])
        let french = try await h.get("/greeting", headers: ["X-Language": "fr"])
        #expect(english.text == "hello in en" && french.text == "hello in fr")
        #expect(french.value(forHeader: "cache-status")?.contains("fwd=vary-miss") == true)
        let none = try await h.get("/greeting")
        #expect(none.text == "hello in default")

        let englishAgain = try await h.get("/greeting", headers: ["X-Language": "en"])
        let frenchAgain = try await h.get("/greeting", headers: ["X-Language": "fr"])
        let noneAgain = try await h.get("/greeting")
        #expect(englishAgain.source == .cache && englishAgain.text == "hello in en")
        #expect(frenchAgain.source == .cache && frenchAgain.text == "hello in fr")
        #expect(noneAgain.source == .cache && noneAgain.text == "hello in default")
        #expect(h.hits("/greeting") == 3)

        #expect(try await h.get("/star").isStored == false)
        #expect(try await h.get("/star").source == .network)
    }

    @Test("the session's additional header fields select the Vary variant as the request's own do, and a request's own field wins")
    func sessionFieldsSelectVariants() async throws {
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.urlCache = nil
        sessionConfiguration.httpAdditionalHeaders = ["X-Language": "fr"]
        let h = try Harness(session: URLSession(configuration: sessionConfiguration)) { request in
            .init(
                headers: [("Cache-Control", "max-age=60"), ("Vary", "X-Language")],
                body: body("hello in " + (request.header("x-language") ?? "default"))
            )
        }
        let french = try await h.get("/greeting")
        #expect(french.source == .network && french.text == "hello in fr")
        let english = try await h.get("/greeting", headers: ["X-Language": "en"])
        #expect(english.source == .network && english.text == "hello in en")
        // Each is served from its own variant: the session's field counts for the one sent
        // without a field of its own, which would otherwise be the "default" variant.
        let frenchAgain = try await h.get("/greeting")
        let englishAgain = try await h.get("/greeting", headers: ["X-Language": "en"])
        #expect(frenchAgain.source == .cache && frenchAgain.text == "hello in fr")
        #expect(englishAgain.source == .cache && englishAgain.text == "hello in en")
        #expect(h.hits("/greeting") == 2)
        // A cache over the same store whose session adds no field asks for another variant.
        let plain = try HTTPCache(store: h.store)
        let none = try await plain.response(for: h.request("/greeting"))
        #expect(none.source == .network && none.text == "hello in default")
        #expect(try await h.get("/greeting").text == "hello in fr")
    }

    // MARK: - Methods

    @Test("unsafe methods are never served from the store, and a successful one invalidates the URL", arguments: Transport.all)
    func unsafeMethods(transport: Transport) async throws {
        let version = Shared(1)
        let h = try Harness(transport: transport) { request in
            switch (request.method, request.path) {
            case ("POST", "/items"):
                version.update { $0 += 1 }
                return .init(status: 201, headers: [("Location", "/items/1")])
            case ("PUT", "/items/1") where request.header("x-fail") != nil:
                return .init(status: 500)
            case ("PUT", _), ("DELETE", _):
                version.update { $0 += 1 }
                return .init(status: 204)
            default:
                return .init(headers: [("Cache-Control", "max-age=600")], body: body("v\(version.value)"))
            }
        }
        #expect(try await h.get("/items/1").text == "v1")
        #expect(try await h.get("/items/1").source == .cache)

        // A failed PUT leaves the stored response alone.
        let failed = try await h.cache.response(for: h.request("/items/1", method: "PUT", headers: ["X-Fail": "1"]))
        #expect(failed.statusCode == 500 && failed.source == .network)
        #expect(try await h.get("/items/1").source == .cache)

        // A successful PUT invalidates; two POSTs both reach the origin.
        _ = try await h.cache.response(for: h.request("/items/1", method: "PUT"))
        let afterPut = try await h.get("/items/1")
        #expect(afterPut.source == .network && afterPut.text == "v2")

        // POST /items with Location: /items/1 invalidates /items/1 too (RFC 9111 §4.4).
        let post = try await h.cache.response(for: h.request("/items", method: "POST"))
        _ = try await h.cache.response(for: h.request("/items", method: "POST"))
        #expect(post.statusCode == 201 && post.source == .network)
        #expect(h.origin.requests.filter { $0.method == "POST" }.count == 2)
        let afterPost = try await h.get("/items/1")
        #expect(afterPost.source == .network && afterPost.text == "v4")
    }

    @Test("HEAD is answered from a fresh stored GET response; conditional requests bypass the store", arguments: Transport.all)
    func headAndConditionalRequests(transport: Transport) async throws {
        let h = try Harness(transport: transport) { request in
            if request.header("if-none-match") != nil { return .init(status: 304, headers: [("ETag", "\"e\"")]) }
            return .init(headers: [("Cache-Control", "max-age=60"), ("ETag", "\"e\"")], body: body("full body"))
        }
        _ = try await h.get("/a")
        let head = try await h.cache.response(for: h.request("/a", method: "HEAD"))
        #expect(head.source == .cache && head.data.isEmpty && head.value(forHeader: "etag") == "\"e\"")

        let conditional = try await h.get("/a", headers: ["If-None-Match": "\"e\""])
        #expect(conditional.statusCode == 304 && conditional.source == .network && !conditional.isStored)
        #expect(h.hits("/a") == 2)
        #expect(try await h.get("/a").text == "full body")
    }

    @Test(
        "request directives: no-cache forces revalidation, max-stale accepts a stale response, max-age limits age", arguments: Transport.all
    )
    func requestDirectives(transport: Transport) async throws {
        let h = try Harness(transport: transport) { request in
            if request.header("if-none-match") != nil { return .init(status: 304, headers: [("Cache-Control", "max-age=60")]) }
            return .init(headers: [("Cache-Control", "max-age=60"), ("ETag", "\"e\"")], body: body("x"))
        }
        _ = try await h.get("/a")
        #expect(try await h.get("/a", headers: ["Cache-Control": "no-cache"]).source == .revalidated)
        #expect(try await h.get("/a", headers: ["Pragma": "no-cache"]).source == .revalidated)
        h.advance(seconds: 30)
        #expect(try await h.get("/a", headers: ["Cache-Control": "max-age=10"]).source == .revalidated)
        h.advance(seconds: 90)
        #expect(try await h.get("/a", headers: ["Cache-Control": "max-stale=60"]).source == .stale)
        #expect(h.hits("/a") == 4)
    }

    // MARK: - Revalidation

    @Test(
        "a stale entry with an ETag is revalidated with If-None-Match; the 304 renews it and returns the stored body",
        arguments: Transport.all)
    func revalidateWithETag(transport: Transport) async throws {
        let h = try Harness(transport: transport) { request in
            if request.header("if-none-match") == "\"v1\"" {
                return .init(status: 304, headers: [("Cache-Control", "max-age=100"), ("ETag", "\"v1\""), ("X-Refreshed", "yes")])
            }
            return .init(
                headers: [("Cache-Control", "max-age=10"), ("ETag", "\"v1\""), ("Content-Type", "text/plain")], body: body("stored body"))
        }
        _ = try await h.get("/a")
        h.advance(seconds: 20)
        let revalidated = try await h.get("/a")
        #expect(revalidated.source == .revalidated && revalidated.statusCode == 200)
        #expect(revalidated.text == "stored body")
        #expect(revalidated.value(forHeader: "x-refreshed") == "yes")
        #expect(revalidated.value(forHeader: "content-type") == "text/plain")
        #expect(h.origin.requests(path: "/a").last?.header("if-none-match") == "\"v1\"")
        #expect(HTTPCache.Source(revalidated.httpResponse) == .revalidated)

        // The 304's max-age=100 is the entry's new lifetime.
        h.advance(seconds: 90)
        #expect(try await h.get("/a").source == .cache)
        #expect(h.hits("/a") == 2)
        #expect(h.cache.statistics.revalidations == 1)
    }

    @Test("a stale entry with Last-Modified is revalidated with If-Modified-Since; a 200 replaces it", arguments: Transport.all)
    func revalidateWithLastModified(transport: Transport) async throws {
        let version = Shared(1)
        let modified = LoopbackHTTPServer.httpDate(Int(Date().timeIntervalSince1970) - 3600)
        let h = try Harness(transport: transport) { request in
            if request.header("if-modified-since") == modified, version.value == 1 {
                return .init(status: 304, headers: [("Cache-Control", "max-age=10")])
            }
            return .init(headers: [("Cache-Control", "max-age=10"), ("Last-Modified", modified)], body: body("v\(version.value)"))
        }
        _ = try await h.get("/a")
        h.advance(seconds: 20)
        #expect(try await h.get("/a").source == .revalidated)
        #expect(h.origin.requests(path: "/a").last?.header("if-modified-since") == modified)

        version.value = 2
        h.advance(seconds: 20)
        let replaced = try await h.get("/a")
        #expect(replaced.source == .network && replaced.text == "v2" && replaced.isStored)
        #expect(try await h.get("/a").text == "v2")
    }

    // MARK: - Stale serving

    @Test("stale-while-revalidate serves the stale body at once and refreshes it in the background", arguments: Transport.all)
    func staleWhileRevalidate(transport: Transport) async throws {
        let version = Shared(1)
        let h = try Harness(transport: transport) { _ in
            .init(headers: [("Cache-Control", "max-age=10, stale-while-revalidate=60")], body: body("v\(version.value)"))
        }
        _ = try await h.get("/a")
        version.value = 2
        h.advance(seconds: 20)
        let stale = try await h.get("/a")
        #expect(stale.source == .stale && stale.text == "v1")
        #expect(stale.value(forHeader: "cache-status")?.contains("detail=stale-while-revalidate") == true)
        await h.cache.waitForBackgroundRefreshes()
        #expect(h.hits("/a") == 2)
        let refreshed = try await h.get("/a")
        #expect(refreshed.source == .cache && refreshed.text == "v2")

        // Beyond the window the caller waits for the origin.
        version.value = 3
        h.advance(seconds: 100)
        let late = try await h.get("/a")
        #expect(late.source == .network && late.text == "v3")
    }

    @Test("stale-if-error serves the stale body when the origin fails, drops the connection or is down", arguments: Transport.all)
    func staleIfError(transport: Transport) async throws {
        let mode = Shared("ok")
        let h = try Harness(transport: transport) { _ in
            switch mode.value {
            case "500": .init(status: 500, body: body("broken"))
            case "drop": .dropped
            default: .init(headers: [("Cache-Control", "max-age=10, stale-if-error=300")], body: body("good"))
            }
        }
        _ = try await h.get("/a")
        h.advance(seconds: 20)
        mode.value = "500"
        let on500 = try await h.get("/a")
        #expect(on500.source == .stale && on500.text == "good")
        #expect(on500.value(forHeader: "cache-status")?.contains("detail=stale-if-error") == true)

        mode.value = "drop"
        #expect(try await h.get("/a").text == "good")

        h.origin.stop()
        let down = try await h.get("/a")
        #expect(down.source == .stale && down.text == "good")

        // Past the window the failure is the caller's.
        h.advance(seconds: 400)
        await #expect(throws: StrataError.self) { try await h.get("/a") }
        do {
            _ = try await h.get("/a")
        } catch let error as StrataError {
            #expect(error.code == .originUnavailable)
            #expect(error.description.contains(h.url("/a").absoluteString))
        }
    }

    @Test("must-revalidate forbids serving stale, even when the origin is down", arguments: Transport.all)
    func mustRevalidate(transport: Transport) async throws {
        let h = try Harness(transport: transport) { _ in
            .init(
                headers: [("Cache-Control", "max-age=10, must-revalidate, stale-if-error=300, stale-while-revalidate=300")], body: body("x")
            )
        }
        _ = try await h.get("/a")
        h.advance(seconds: 20)
        #expect(try await h.get("/a", headers: ["Cache-Control": "max-stale=600"]).source == .network)
        h.advance(seconds: 20)
        h.origin.stop()
        let error = await #expect(throws: StrataError.self) { try await h.get("/a") }
        #expect(error?.code == .originUnavailable)
    }

    // MARK: - Concurrency

    @Test("concurrent requests for one URL make one request to the origin", arguments: Transport.all)
    func singleFlight(transport: Transport) async throws {
        let h = try Harness(transport: transport) { request in
            let cacheable = request.path == "/shared"
            return .init(
                headers: [("Cache-Control", cacheable ? "max-age=60" : "no-store")],
                body: body("payload"),
                delay: .milliseconds(300)
            )
        }
        let bodies = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 { group.addTask { try await h.get("/shared").text } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(bodies == Array(repeating: "payload", count: 20))
        #expect(h.hits("/shared") == 1)

        // A response that may not be stored isn't handed to waiting callers: each asks.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { _ = try await h.get("/private") } }
            try await group.waitForAll()
        }
        #expect(h.hits("/private") == 4)
    }

    // MARK: - Storage

    @Test("bodies over the configured limit are returned but not stored", arguments: Transport.all)
    func bodyLimit(transport: Transport) async throws {
        var configuration = HTTPCache.Configuration()
        configuration.maximumBodySize = 1000
        let h = try Harness(transport: transport, configuration: configuration) { request in
            .init(headers: [("Cache-Control", "max-age=60")], body: Array(repeating: 65, count: request.path == "/big" ? 1001 : 1000))
        }
        let big = try await h.get("/big")
        #expect(big.data.count == 1001 && !big.isStored)
        #expect(try await h.get("/big").source == .network)
        #expect(try await h.get("/small").isStored)
        #expect(try await h.get("/small").source == .cache)
    }

    @Test("a corrupt or truncated stored entry is a miss, counted and replaced", arguments: Transport.all)
    func corruptEntries(transport: Transport) async throws {
        let h = try Harness(transport: transport) { _ in .init(headers: [("Cache-Control", "max-age=60")], body: body("fine")) }
        let key = "http:" + h.url("/a").absoluteString
        try await h.store.setEntry(StoredEntry(bytes: Array("garbage".utf8)), forKey: key)
        let first = try await h.get("/a")
        #expect(first.source == .network && first.text == "fine" && first.isStored)
        #expect(h.cache.statistics.corruptEntries == 1)

        let good = try #require(try await h.store.entry(forKey: key))
        for cut in [1, 9, good.bytes.count / 2, good.bytes.count - 1] {
            try await h.store.setEntry(StoredEntry(bytes: Array(good.bytes.prefix(cut))), forKey: key)
            #expect(try await h.get("/a").source == .network)
        }
        var flipped = good.bytes
        flipped[4] ^= 0xFF  // the URL's length: now far beyond the entry
        try await h.store.setEntry(StoredEntry(bytes: flipped), forKey: key)
        #expect(try await h.get("/a").source == .network)
        #expect(h.cache.statistics.corruptEntries == 6)
        #expect(try await h.get("/a").source == .cache)
    }

    @Test(
        "a hit reuses what it decoded only for the same bytes: a response replaced under its key behind the cache's back is served as the new bytes say",
        arguments: Transport.all)
    func decodedOnlyForTheSameBytes(transport: Transport) async throws {
        let text = Shared("one")
        let h = try Harness(transport: transport) { _ in .init(headers: [("Cache-Control", "max-age=60")], body: body(text.value)) }
        let key = "http:" + h.url("/a").absoluteString
        #expect(try await h.get("/a").text == "one")
        let one = try #require(try await h.store.entry(forKey: key))
        try await h.cache.invalidate(h.url("/a"))
        text.value = "two"
        #expect(try await h.get("/a").text == "two")
        let two = try #require(try await h.store.entry(forKey: key))
        #expect(one.bytes.count == two.bytes.count && one.bytes != two.bytes)  // same length, other bytes
        // Written as another instance would: a new buffer each time, the cache's own copy
        // of the entry it decoded last left behind.
        for (bytes, expected) in [(one.bytes, "one"), (two.bytes, "two"), (one.bytes, "one")] {
            try await h.store.setEntry(StoredEntry(bytes: bytes, expiresAt: one.expiresAt), forKey: key)
            let hit = try await h.get("/a")
            #expect(hit.source == .cache && hit.text == expected)
        }
        // Damaged after a hit decoded it: a miss counted as corrupt, never the decoded copy.
        var damaged = one.bytes
        damaged[4] ^= 0xFF
        try await h.store.setEntry(StoredEntry(bytes: damaged, expiresAt: one.expiresAt), forKey: key)
        #expect(try await h.get("/a").source == .network)
        #expect(h.cache.statistics.corruptEntries == 1)
        #expect(h.hits("/a") == 3)
    }

    @Test(
        "R1 through HTTPCache: requests that join a fetch after invalidate(_:) of its URL (or a clear(prefix:) or clear() of the store) returned, the fetch's answer already stored, ask the origin again, once between them",
        .timeLimit(.minutes(1)), arguments: Transport.all, ["invalidate(_:)", "clear(prefix:)", "clear()"])
    func requestJoiningAfterAnInvalidationFetchesItself(transport: Transport, change: String) async throws {
        let text = Shared("before")
        let h = try Harness(transport: transport) { _ in .init(headers: [("Cache-Control", "max-age=60")], body: body(text.value)) }
        let gate = PipelineGates.shared.arm(.afterFetch, key: "http:" + h.url("/a").absoluteString, scope: nil)
        defer { PipelineGates.shared.disarm(gate) }
        let leader = Task { try await h.get("/a") }
        try await gate.reached()  // "before" is stored; the fetch's flight has not ended
        switch change {
        case "invalidate(_:)": try await h.cache.invalidate(h.url("/a"))
        case "clear(prefix:)": _ = try await h.store.clear(prefix: "http:")
        default: _ = try await h.store.clear()
        }
        text.value = "after"
        let followers = [Task { try await h.get("/a") }, Task { try await h.get("/a") }]
        let joined = try await eventually(poll: .milliseconds(1)) { h.cache.fetchWaiters(for: h.url("/a")) == 2 }
        #expect(joined, "the requests that began after the invalidation joined the fetch under way")
        // The first of them to look again leads a new fetch, held once it stored its answer:
        // the other joins it, or reads that answer from the store, never a third fetch.
        let second = PipelineGates.shared.arm(.afterFetch, key: "http:" + h.url("/a").absoluteString, scope: nil)
        defer { PipelineGates.shared.disarm(second) }
        gate.open()
        #expect(try await leader.value.text == "before", "the leader's request gets its fetch")
        try await second.reached()
        // The other joins the new fetch, or (having read the store once it was written)
        // is answered from it: wait for whichever happens.
        var sharing = false
        let settled = try await eventually(poll: .milliseconds(1)) {
            if h.cache.fetchWaiters(for: h.url("/a")) == 1 { sharing = true }
            return sharing || h.cache.statistics.hits >= 1
        }
        #expect(settled, "the other late request joined the new fetch or read its answer")
        second.open()
        var sources: [String] = []
        for follower in followers {
            let answer = try await follower.value
            #expect(answer.text == "after", "a request that began after the invalidation never gets the answer stored before it")
            sources.append(answer.source.rawValue)
        }
        #expect(h.hits("/a") == 2, "the two late requests asked the origin once between them")
        #expect(sources.sorted() == (sharing ? ["network", "network"] : ["cache", "network"]), "\(sources), sharing: \(sharing)")
        let stored = try await h.get("/a")
        #expect(stored.text == "after" && stored.source == .cache, "and its answer is what is stored")
    }

    @Test(
        "R1 through HTTPCache: a request overtaken by an invalidate(_:) at every look, as often as it looks again, still answers from a fresh response stored before its last look rather than ask the origin",
        .timeLimit(.minutes(1)), arguments: Transport.all)
    func requestOvertakenAtEveryLookStillDecides(transport: Transport) async throws {
        let storable = Shared(false)
        let origin = try LoopbackHTTPServer { _ in
            storable.value
                ? .init(headers: [("Cache-Control", "max-age=60")], body: body("fresh"))
                : .init(headers: [("Cache-Control", "no-store")], body: body("not stored"))
        }
        defer { origin.stop() }
        let store = CallHoldingStore(base: MemoryStore())
        let cache = try transport.cache(over: store, configuration: .init())
        let url = URL(string: origin.baseURL + "/a")!
        let key = "http:" + url.absoluteString
        var gates = [PipelineGates.shared.arm(.afterFetch, key: key, scope: nil)]
        defer { for gate in gates { PipelineGates.shared.disarm(gate) } }
        var leaders = [Task { try await cache.response(for: URLRequest(url: url)) }]
        try await gates[0].reached()
        try await cache.invalidate(url)
        let late = Task { try await cache.response(for: URLRequest(url: url)) }
        for round in 1...HTTPCache.maximumLooksAgain + 1 {
            let joined = try await eventually(poll: .milliseconds(1)) { cache.fetchWaiters(for: url) == 1 }
            #expect(joined, "round \(round): the late request joined a fetch after the URL's invalidation")
            guard round <= HTTPCache.maximumLooksAgain else { break }
            // It looks again: its store read is held until a new fetch runs, the URL is
            // invalidated again, and then it joins that fetch.
            let read = store.holdNextRead()
            gates.last!.open()
            #expect(try await eventually(poll: .milliseconds(1)) { read.held == 1 }, "round \(round): the late request looks again")
            gates.append(PipelineGates.shared.arm(.afterFetch, key: key, scope: nil))
            leaders.append(Task { try await cache.response(for: URLRequest(url: url)) })
            try await gates.last!.reached()
            try await cache.invalidate(url)
            read.open()
        }
        // Its last look: a fresh response is stored by then (by a request of other fields,
        // which shares no fetch with it).
        storable.value = true
        var other = URLRequest(url: url)
        other.setValue("1", forHTTPHeaderField: "X-Other")
        #expect(try await cache.response(for: other).isStored)
        gates.last!.open()
        for leader in leaders { #expect(try await leader.value.text == "not stored") }
        let answer = try await late.value
        #expect(
            answer.text == "fresh" && answer.source == .cache,
            "overtaken at every look, it answers from the fresh response: \(answer.text), \(answer.source)")
        #expect(
            origin.requests(path: "/a").count == leaders.count + 1,
            "a fetch per leader and the other fields' request: the late request's last look asks no origin")
    }

    @Test(
        "C2 through HTTPCache: an invalidate(_:) while the origin answers wins over the answer, on a store with leases of its own and on one on the default leases (kept in this process)",
        .timeLimit(.minutes(1)), arguments: ["memory", "default leases"])
    func invalidationWhileTheOriginAnswersWins(store kind: String) async throws {
        let answering = DispatchSemaphore(value: 0)
        let asked = Shared(false)
        let origin = try LoopbackHTTPServer { _ in
            asked.value = true
            answering.wait()  // the origin's own thread, until the test has invalidated
            return .init(headers: [("Cache-Control", "max-age=60")], body: body("before"))
        }
        defer { origin.stop() }
        let memory = MemoryStore()
        let store: any KeyValueStore =
            kind == "memory" ? memory : ForwardingStore(base: memory, forwardsPipeline: false, keepsLeasesInProcess: true)
        let cache = try HTTPCache(store: store)
        let url = URL(string: origin.baseURL + "/a")!
        let fetch = Task { try await cache.response(for: URLRequest(url: url)) }
        var answered = false
        defer { if !answered { answering.signal() } }  // never leave the origin's thread held
        let reached = try await eventually(poll: .milliseconds(1)) { asked.value }
        try await cache.invalidate(url)
        answering.signal()
        answered = true
        #expect(reached, "the origin was asked before the invalidation")
        let answer = try await fetch.value
        #expect(answer.text == "before" && !answer.isStored, "the caller gets the answer, which is not stored")
        #expect(cache.statistics.staleStoresRefused == 1)
        #expect(try await store.entry(forKey: "http:" + url.absoluteString) == nil, "nothing stored over the invalidation")
    }

    @Test(
        "R1 through HTTPCache: a request that joins a failing fetch after invalidate(_:) of its URL asks the origin itself rather than take the failure",
        .timeLimit(.minutes(1)), arguments: Transport.all)
    func requestJoiningAFailingFetchAfterAnInvalidationFetchesItself(transport: Transport) async throws {
        let failing = Shared(true)
        let h = try Harness(transport: transport) { _ in
            failing.value ? .dropped : .init(headers: [("Cache-Control", "max-age=60")], body: body("up"))
        }
        let gate = PipelineGates.shared.arm(.afterFetch, key: "http:" + h.url("/a").absoluteString, scope: nil)
        defer { PipelineGates.shared.disarm(gate) }
        let leader = Task { try await h.get("/a") }
        try await gate.reached()
        try await h.cache.invalidate(h.url("/a"))
        failing.value = false
        let follower = Task { try await h.get("/a") }
        let joined = try await eventually(poll: .milliseconds(1)) { h.cache.fetchWaiters(for: h.url("/a")) == 1 }
        #expect(joined, "the request that began after the invalidation joined the fetch under way")
        gate.open()
        await #expect(throws: (any Error).self, "the leader's request fails: the origin dropped it") { try await leader.value }
        let late = try await follower.value
        #expect(late.statusCode == 200 && late.text == "up", "the later request asked the origin itself, not taken the failure")
    }

    @Test("expires: stores a response for a fixed lifetime whatever its headers say, but never a 5xx", arguments: Transport.all)
    func fixedLifetime(transport: Transport) async throws {
        let h = try Harness(transport: transport) { request in
            request.path == "/down"
                ? .init(status: 503, body: body("down"))
                : .init(headers: [("Cache-Control", "no-store, no-cache, private")], body: body("rates"))
        }
        let first = try await h.get("/rates", expires: "10min")
        #expect(first.isStored)
        h.advance(seconds: 9 * 60)
        #expect(try await h.get("/rates").source == .cache)
        h.advance(seconds: 2 * 60)
        #expect(try await h.get("/rates").source == .network)
        #expect(h.hits("/rates") == 2)

        #expect(try await h.get("/down", expires: "10min").isStored == false)

        // .never: kept until invalidated, whatever the headers say.
        #expect(try await h.get("/forever", expires: .never).isStored)
        h.advance(seconds: 400 * 86_400)
        #expect(try await h.get("/forever").source == .cache)
        try await h.cache.invalidate(h.url("/forever"))
        #expect(try await h.get("/forever").source == .network)
    }

    @Test("the cache survives a restart over a tiered store with SQLite behind it")
    func survivesRestart() async throws {
        let origin = try LoopbackHTTPServer { _ in .init(headers: [("Cache-Control", "max-age=600")], body: body("durable")) }
        let path = temporaryDirectory("http") + ".sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let url = URL(string: origin.baseURL + "/a")!
        do {
            let store = TieredStore(l1: MemoryStore(), l2: try SQLiteStore(path: path))
            let cache = try HTTPCache(store: store)
            #expect(try await cache.response(for: URLRequest(url: url)).source == .network)
            try await store.close()
        }
        let store = TieredStore(l1: MemoryStore(), l2: try SQLiteStore(path: path))
        let cache = try HTTPCache(store: store)
        let after = try await cache.response(for: URLRequest(url: url))
        #expect(after.source == .cache && after.text == "durable")
        #expect(origin.requests.count == 1)
        try await store.close()
    }

    @Test("bad input: a non-HTTP URL, an oversized key prefix, an unreachable origin")
    func badInput() async throws {
        let cache = try HTTPCache(store: MemoryStore())
        let fileError = await #expect(throws: StrataError.self) {
            try await cache.data(from: URL(fileURLWithPath: "/etc/hostname"))
        }
        #expect(fileError?.code == .invalidKey)
        for text in ["ftp://example.com/a", "httpx://example.com/a", "htt://example.com/a", "mailto:someone@example.com", "http"] {
            let error = await #expect(throws: StrataError.self, "\(text)") { try await cache.data(from: URL(string: text)!) }
            #expect(error?.code == .invalidKey, "\(text)")
        }
        // The scheme's letters in either case: an uppercase one is the same URL, and key.
        let origin = try LoopbackHTTPServer { _ in .init(headers: [("Cache-Control", "max-age=60")], body: Array("up".utf8)) }
        defer { origin.stop() }
        let lower = URL(string: origin.baseURL + "/case")!
        let upper = URL(string: "HTTP" + origin.baseURL.dropFirst(4) + "/case")!
        #expect(try await cache.response(for: URLRequest(url: lower)).source == .network)
        #expect(try await cache.response(for: URLRequest(url: upper)).source == .cache)

        var configuration = HTTPCache.Configuration()
        configuration.keyPrefix = String(repeating: "p", count: 300)
        #expect(throws: StrataError.self) { try HTTPCache(store: MemoryStore(), configuration: configuration) }

        let closed = try LoopbackHTTPServer { _ in .init() }
        let url = URL(string: closed.baseURL + "/gone")!
        closed.stop()
        let error = await #expect(throws: StrataError.self) { try await cache.data(from: url) }
        #expect(error?.code == .originUnavailable)
        #expect(error?.description.contains("/gone") == true)
    }
}

extension HTTPCacheTests {
    @Test("a URL longer than any key is cached under its hash", arguments: Transport.all)
    func longURL(transport: Transport) async throws {
        let h = try Harness(transport: transport) { _ in .init(headers: [("Cache-Control", "max-age=60")], body: body("long")) }
        let path = "/" + String(repeating: "segment/", count: 300)
        #expect(try await h.get(path).isStored)
        #expect(try await h.get(path).source == .cache)
        #expect(try await h.store.keys(prefix: "http:sha256 ").count == 1)
    }
}
