import Foundation
import Strata
import StrataHTTP
import StrataTestSupport
import StrataTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Request directives against stored responses, a 304 that forbids storing, and a Vary
/// index read before an invalidation (RFC 9111 §4.3.4, §5.2.1, §5.2.2.5).
extension HTTPCacheTests {
    @Test("a bare max-stale (no value: any staleness) serves a stale response, never a crash, to GET and HEAD")
    func bareMaxStale() async throws {
        let h = try Harness { _ in .init(headers: [("Cache-Control", "max-age=10"), ("ETag", "\"e\"")], body: body("x")) }
        _ = try await h.get("/a")
        h.advance(seconds: 20)
        let stale = try await h.get("/a", headers: ["Cache-Control": "max-stale"])
        #expect(stale.source == .stale && stale.text == "x")
        #expect(stale.value(forHeader: "cache-status")?.contains("detail=max-stale") == true)
        #expect(h.hits("/a") == 1)
        // A HEAD request weighs the stored response the same way (and, stale, asks the origin:
        // only a fresh stored GET response answers a HEAD).
        let head = try await h.cache.response(for: h.request("/a", method: "HEAD", headers: ["Cache-Control": "max-stale"]))
        #expect(head.source == .network)
    }

    @Test(
        "a request's max-age or min-fresh that a response does not meet is not answered under stale-while-revalidate: it waits for the origin (RFC 9111 §5.2.1.1, §5.2.1.3)",
        arguments: ["max-age=0", "min-fresh=300"])
    func requestFreshnessBeatsStaleWhileRevalidate(directive: String) async throws {
        let version = Shared(1)
        let h = try Harness { _ in
            .init(headers: [("Cache-Control", "max-age=60, stale-while-revalidate=600")], body: body("v\(version.value)"))
        }
        _ = try await h.get("/a")
        version.value = 2
        h.advance(seconds: 5)  // fresh for the response (55 s left), too old for the request
        let answer = try await h.get("/a", headers: ["Cache-Control": directive])
        #expect(answer.source == .network && answer.text == "v2", "\(answer.source) \(answer.text)")
        // Past its lifetime, a request without such a directive is still served stale while
        // the response refreshes.
        version.value = 3
        h.advance(seconds: 70)
        let stale = try await h.get("/a")
        #expect(stale.source == .stale && stale.text == "v2")
        await h.cache.waitForBackgroundRefreshes()
    }

    @Test("a 304 that says no-store is not merged into the store: the response is returned, and the next request asks the origin")
    func noStoreOn304() async throws {
        let clock = ManualClock()
        let lastModified = LoopbackHTTPServer.httpDate(Int(clock.now().millisecondsSince1970 / 1000) - 30 * 86_400)
        let forbids = Shared(false)
        let origin = try LoopbackHTTPServer(clock: clock) { request in
            if request.header("if-none-match") != nil {
                return .init(status: 304, headers: forbids.value ? [("Cache-Control", "no-store")] : [])
            }
            return .init(headers: [("Cache-Control", "max-age=10"), ("ETag", "\"e\""), ("Last-Modified", lastModified)], body: body("x"))
        }
        let store = MemoryStore(configuration: .init(clock: clock))
        let cache = try HTTPCache(store: store)
        let url = URL(string: origin.baseURL + "/a")!
        _ = try await cache.response(for: URLRequest(url: url))
        forbids.value = true
        clock.advance(by: .seconds(20))
        let revalidated = try await cache.response(for: URLRequest(url: url))
        #expect(revalidated.source == .revalidated && revalidated.text == "x")
        #expect(!revalidated.isStored)
        #expect(revalidated.value(forHeader: "cache-control") == "no-store")
        // Nothing stored says no-store or is fresh again: the next request asks the origin.
        clock.advance(by: .seconds(60))
        let after = try await cache.response(for: URLRequest(url: url))
        #expect(after.source != .cache, "\(after.source)")
        #expect(origin.requests(path: "/a").count == 3)

        // A request's own no-store keeps a 304's merge out of the store as well.
        forbids.value = false
        let store2 = MemoryStore(configuration: .init(clock: clock))
        let cache2 = try HTTPCache(store: store2)
        _ = try await cache2.response(for: URLRequest(url: url))
        clock.advance(by: .seconds(20))
        var asking = URLRequest(url: url)
        asking.setValue("no-store", forHTTPHeaderField: "Cache-Control")
        let notStored = try await cache2.response(for: asking)
        #expect(notStored.source == .revalidated && !notStored.isStored)
    }

    @Test(
        "Vary: a fetch that read the URL's variant index before an invalidate(_:) does not write that index back, so the invalidated variants stay unreachable"
    )
    func varyIndexReadBeforeInvalidation() async throws {
        let version = Shared(1)
        let clock = ManualClock()
        let origin = try LoopbackHTTPServer(clock: clock) { request in
            .init(
                headers: [("Cache-Control", "max-age=60"), ("Vary", "X-Lang")],
                body: body("v\(version.value)-\(request.header("x-lang") ?? "none")"))
        }
        let store = CallHoldingStore(base: MemoryStore(configuration: .init(clock: clock)), forwardsPipeline: false)
        let cache = try HTTPCache(store: store)
        let url = URL(string: origin.baseURL + "/a")!
        func request(_ language: String) -> URLRequest {
            var request = URLRequest(url: url)
            request.setValue(language, forHTTPHeaderField: "X-Lang")
            return request
        }
        #expect(try await cache.response(for: request("en")).text == "v1-en")
        clock.advance(by: .seconds(10))
        // The request for "de" reads the index (a variant miss), then is held as it takes its lease.
        let lease = store.holdNextLease()
        let german = Task { try await cache.response(for: request("de")) }
        #expect(try await eventually(poll: .milliseconds(1)) { lease.held == 1 })
        // The resource changes and the URL is invalidated (as a successful POST does).
        version.value = 2
        try await cache.invalidate(url)
        lease.open()
        #expect(try await german.value.text == "v2-de")
        let english = try await cache.response(for: request("en"))
        #expect(english.source == .network && english.text == "v2-en", "\(english.source) \(english.text)")
        #expect(try await cache.response(for: request("de")).text == "v2-de")
    }
}
