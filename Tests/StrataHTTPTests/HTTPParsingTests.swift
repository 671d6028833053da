import Foundation
import StrataLoopbackHTTP
import StrataTestSupport
import StrataTesting
import Testing

@testable import StrataHTTP

@Suite("HTTP parsing")
struct HTTPParsingTests {
    @Test("the three HTTP date forms of RFC 9110 §5.6.7 parse to the same instant; malformed dates don't")
    func dates() {
        let expected: Int64 = 784_111_777_000
        #expect(HTTPDate.milliseconds("Sun, 06 Nov 1994 08:49:37 GMT") == expected)
        #expect(HTTPDate.milliseconds("Sunday, 06-Nov-94 08:49:37 GMT") == expected)
        #expect(HTTPDate.milliseconds("Sun Nov  6 08:49:37 1994") == expected)
        #expect(HTTPDate.milliseconds("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
        #expect(HTTPDate.milliseconds("Tue, 29 Feb 2028 23:59:59 GMT") == 1_835_481_599_000)
        for bad in [
            "0", "", "-1", "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1994 08:49 GMT",
        ] {
            #expect(HTTPDate.milliseconds(bad) == nil, "\(bad)")
        }
    }

    @Test("Cache-Control: directives, quoted values, first occurrence wins, bad max-age means stale")
    func cacheControl() {
        let control = CacheControl(
            #"Max-Age=60, no-cache="Set-Cookie, X-A", must-revalidate,stale-while-revalidate=30 , stale-if-error=600, max-age=5"#)
        #expect(control.maxAge == 60)
        #expect(control.noCache && control.mustRevalidate && !control.noStore)
        #expect(control.staleWhileRevalidate == 30 && control.staleIfError == 600)
        #expect(CacheControl("max-age=abc").maxAge == 0)
        #expect(CacheControl("max-age=99999999999999999999").maxAge == CacheControl.deltaSecondsLimit)
        #expect(CacheControl("max-stale").maxStale! > 1_000_000_000)
        #expect(CacheControl("private, public").isPublic)
        #expect(CacheControl(nil) == CacheControl(""))
        // Each directive sets its own field, and only it.
        let each = CacheControl("no-store, public, immutable, max-stale=7, min-fresh=9, stale-if-error=11")
        #expect(each.noStore && each.isPublic && each.immutable && each.maxStale == 7 && each.minFresh == 9)
        #expect(each.staleIfError == 11 && each.maxAge == nil && !each.noCache && !each.mustRevalidate)
        #expect(each.staleWhileRevalidate == nil)
        #expect(CacheControl("min-fresh=1, MIN-FRESH=2, unknown=3").minFresh == 1)
    }

    @Test("header fields: names match in any case, repeated fields join, non-ASCII text decodes, and stored responses round-trip")
    func headerFields() throws {
        var headers = HeaderFields([
            .init(name: "CACHE-Control", value: "max-age=60"), .init(name: "X-Note", value: "naïve “quoted”"),
            .init(name: "cache-control", value: #"no-cache="Set-Cookie, \"A\"", must-revalidate"#),
            .init(name: "ETag", value: "\"v1\""), .init(name: "Vary", value: "Accept , , X-Lang"),
        ])
        #expect(headers["Cache-Control"] == #"max-age=60, no-cache="Set-Cookie, \"A\"", must-revalidate"#)
        #expect(headers["x-note"] == "naïve “quoted”" && headers["x-not"] == nil && headers["X-NOTE"] != nil)
        #expect(HeaderFields.named("Content-Type", "content-type") && !HeaderFields.named("content-typf", "content-type"))
        #expect(!HeaderFields.named("a-b", "a\rb"))  // 0x2D and 0x0D differ by 0x20 but are not letters
        #expect(!HeaderFields.named("Ä-x", "ä-x") && "Ä-X".lowercasedToken == "Ä-x")  // ASCII letters only, everywhere
        // The facts read every field of a name, in one pass.
        let response = StoredHTTPResponse(
            .init(
                url: "https://example.com/", statusCode: 200, headers: headers, body: Data("é".utf8),
                requestTime: Timestamp(millisecondsSince1970: 1), responseTime: Timestamp(millisecondsSince1970: 2),
                varyValues: [("accept", "text/html"), ("x-lang", nil)], fixedLifetime: nil))
        #expect(response.facts.cacheControl.maxAge == 60 && response.facts.cacheControl.noCache)
        #expect(response.facts.cacheControl.mustRevalidate && response.facts.etag == "\"v1\"")
        #expect(response.facts.varyFieldNames == ["accept", "x-lang"])
        #expect(CacheControl.directives(#"a="x\"ü", B=ö "#).map { "\($0.0)=\($0.1 ?? "-")" } == [#"a=x"ü"#, "b=ö"])
        // Encoded and decoded again: the same fields, non-ASCII ones included.
        guard case .response(let decoded) = try StoredHTTPEntry(decoding: StoredHTTPEntry.response(response).encoded()) else {
            Issue.record("a stored response decoded as something else")
            return
        }
        #expect(decoded.headers == headers && decoded.body == response.body && decoded.url == response.url)
        #expect(decoded.facts.cacheControl == response.facts.cacheControl)
        // A copy shares the response's storage until it changes (a revalidation merges new
        // fields into a copy of a decoded response others hold): then it has its own.
        var merged = decoded
        merged.headers = HeaderFields([.init(name: "Cache-Control", value: "max-age=5")])
        merged.responseTime = Timestamp(millisecondsSince1970: 9)
        #expect(merged.facts.cacheControl.maxAge == 5 && merged.responseTime.millisecondsSince1970 == 9)
        #expect(decoded.headers == headers && decoded.facts.cacheControl.maxAge == 60)
        #expect(decoded.responseTime.millisecondsSince1970 == 2)
        // A field whose bytes are not UTF-8 makes the entry malformed (a miss), never a crash.
        var bytes = StoredHTTPEntry.response(response).encoded()
        let note = bytes.firstRange(of: Array("naïve".utf8))!
        bytes[note.lowerBound + 2] = 0xFF
        #expect(throws: StoredHTTPEntry.MalformedEntry.self) { try StoredHTTPEntry(decoding: bytes) }
        headers.remove("CACHE-CONTROL")
        #expect(headers["cache-control"] == nil && headers.fields.count == 3)
    }

    @Test("decoded entries are kept within their bounds: a count and bytes at most, no entry of more than a sixteenth of the bytes")
    func decodedEntriesBounds() throws {
        let decoded = DecodedEntries(maximumCount: 3, maximumBytes: 16 * 1_024)
        func encoded(_ size: Int) -> [UInt8] {
            StoredHTTPEntry.response(
                StoredHTTPResponse(
                    .init(
                        url: "https://example.com/", statusCode: 200, headers: HeaderFields(), body: Data(count: size),
                        requestTime: Timestamp(millisecondsSince1970: 1), responseTime: Timestamp(millisecondsSince1970: 1),
                        varyValues: [], fixedLifetime: nil))
            ).encoded()
        }
        for index in 0..<10 { _ = try decoded.entry(forKey: "k\(index)", decoding: encoded(100)) }
        #expect(decoded.kept.count <= 3 && decoded.kept.count >= 1)
        _ = try decoded.entry(forKey: "big", decoding: encoded(2_000))  // over 16 KiB / 16: decoded, not kept
        let afterBig = decoded.kept
        #expect(afterBig.bytes < encoded(2_000).count && afterBig.count <= 3)
        // The byte budget: 100 entries allowed, 16 KiB of bytes, entries of about 950 bytes.
        let budget = DecodedEntries(maximumCount: 100, maximumBytes: 16 * 1_024)
        for index in 0..<40 {
            _ = try budget.entry(forKey: "m\(index)", decoding: encoded(900))
            #expect(budget.kept.bytes <= 16 * 1_024, "after \(index + 1) entries")
        }
        #expect(budget.kept.count >= 1 && budget.kept.count < 40)
        // The same key read again with other bytes replaces its entry and counts its bytes
        // once; in a full memo it empties nothing.
        let full = DecodedEntries(maximumCount: 2, maximumBytes: 16 * 1_024)
        _ = try full.entry(forKey: "a", decoding: encoded(10))
        _ = try full.entry(forKey: "b", decoding: encoded(10))
        _ = try full.entry(forKey: "b", decoding: encoded(20))
        #expect(full.kept.count == 2 && full.kept.bytes == encoded(10).count + encoded(20).count)
        // Bytes that do not decode, or too many to keep, drop what was kept for the key.
        #expect(throws: StoredHTTPEntry.MalformedEntry.self) { try full.entry(forKey: "b", decoding: Array("junk".utf8)) }
        #expect(full.kept.count == 1 && full.kept.bytes == encoded(10).count)
        _ = try full.entry(forKey: "a", decoding: encoded(2_000))
        #expect(full.kept.count == 0 && full.kept.bytes == 0)
        // Equal bytes in another buffer are the same; one byte apart, not.
        var other = encoded(10)
        #expect(DecodedEntries.same(encoded(10), other))
        other[other.count - 1] ^= 1
        #expect(!DecodedEntries.same(encoded(10), other) && DecodedEntries.same([], []))
    }

    @Test("a hit's Age and Cache-Status over stored fields that repeat them, in any case: one Age, our member last")
    func hitStampOverRepeatedFields() {
        let stored = HeaderFields([
            .init(name: "age", value: "3"), .init(name: "Cache-Status", value: "Edge; hit"), .init(name: "ETag", value: "\"e\""),
            .init(name: "AGE", value: "4"), .init(name: "cache-status", value: "Proxy; fwd=miss"),
        ])
        let stamp = HTTPCache.HitStamp(age: 7_900, freshFor: 52_100, staleBecause: nil)
        let stamped = stamp.stamped(on: stored)
        // Every stored Age replaced by ours at the end; the stored Cache-Status members joined,
        // in their order, then ours, in one field at the end (as the eager code wrote them).
        #expect(stamped.fields.map(\.name) == ["ETag", "Age", "Cache-Status"])
        #expect(stamped["age"] == "7")
        #expect(stamped["cache-status"] == "Edge; hit, Proxy; fwd=miss, Strata; hit; ttl=52")
        for name in ["Age", "aGe", "CACHE-STATUS", "etag", "Vary"] {
            #expect(stamp.value(forHeader: name, on: stored) == stamped[name], "\(name)")
        }
        let stale = HTTPCache.HitStamp(age: 75_000, freshFor: -15_000, staleBecause: "stale-if-error")
        #expect(stale.value(forHeader: "cache-status", on: HeaderFields()) == "Strata; hit; ttl=-15; detail=stale-if-error")
        #expect(stale.value(forHeader: "age", on: HeaderFields()) == "75")
    }

    @Test("only http and https schemes, their letters in either case, are cached")
    func schemes() {
        for text in ["http://a/", "https://a/", "HTTP://a/", "HTTPS://a/", "HtTpS://a/", "http:a", "https:"] {
            #expect(HTTPCache.hasHTTPScheme(text), "\(text)")
        }
        for text in [
            "", "http", "https", "httpx://a/", "httpsx://a/", "htt://a/", "ftp://a/", "file:///a", " http://a/", "hxtp://a/", "http;//a",
        ] {
            #expect(!HTTPCache.hasHTTPScheme(text), "\(text)")
        }
    }

    @Test("keys: URLs are normalized, and URLs too long to be keys are hashed within the key limit")
    func keys() {
        let key = HTTPCache.key(for: URL(string: "HTTP://Example.COM:80/a?b=1#frag")!, prefix: "http:")
        #expect(key == "http:http://example.com/a?b=1")
        #expect(HTTPCache.key(for: URL(string: "https://example.com")!, prefix: "p:") == "p:https://example.com/")
        #expect(HTTPCache.key(for: URL(string: "https://example.com:443/a")!, prefix: "p:") == "p:https://example.com/a")
        #expect(HTTPCache.key(for: URL(string: "https://example.com:8443/a")!, prefix: "p:") == "p:https://example.com:8443/a")
        #expect(HTTPCache.isNormalized("https://example.com:8443/a") && !HTTPCache.isNormalized("https://u@example.com/a"))
        #expect(!HTTPCache.isNormalized("http://example.com:80/a") && !HTTPCache.isNormalized("https://Example.com/a"))
        #expect(HTTPCache.isNormalized("http://example.com:8080/A?Q=1") && HTTPCache.isNormalized("https://[::1]:8443/"))
        for text in [
            "HTTPS://example.com/a", "https://example.com", "https://example.com?q", "https://example.com/a#f",
            "https://example.com:443/", "https:example.com/a", "https://example.com#f", "ht#tp://example.com/a",
        ] {
            #expect(!HTTPCache.isNormalized(text), "\(text)")
        }
        let long = URL(string: "https://example.com/" + String(repeating: "x", count: 2000))!
        let hashed = HTTPCache.key(for: long, prefix: "http:")
        #expect(hashed.hasPrefix("http:sha256 ") && hashed.utf8.count < 100)
        let variant = HTTPCache.variantKey(hashed, index: VaryIndex(generation: .max, fieldNames: ["a"]), values: [nil])
        #expect(variant.utf8.count <= 1024)
        #expect(
            HTTPCache.variantKey(hashed, index: VaryIndex(generation: 1, fieldNames: ["a"]), values: [nil])
                != HTTPCache.variantKey(hashed, index: VaryIndex(generation: 1, fieldNames: ["a"]), values: [""]))
    }
}

@Suite("LoopbackHTTPServer")
struct LoopbackHTTPServerTests {
    /// The inode behind `descriptor`, or nil when it is closed.
    static func inode(_ descriptor: Int32) -> UInt? {
        var status = stat()
        return fstat(descriptor, &status) == 0 ? UInt(status.st_ino) : nil
    }

    @Test(
        "stop() while the accept thread is between two accept() calls keeps the listening socket open until the thread is done with it",
        .timeLimit(.minutes(1)))
    func stopKeepsTheListenerForTheAcceptThread() async throws {
        let reached = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let server = try LoopbackHTTPServer(
            clock: SystemClock(), handler: { _ in .init(body: Array("ok".utf8)) },
            beforeAccept: {
                reached.signal()
                release.wait()
            })
        await offPool { reached.wait() }
        let descriptor = server.listeningDescriptor
        let listening = try #require(Self.inode(descriptor))
        server.stop()
        // Closed now, the number could go to another server's socket, and the thread's
        // accept() would take that server's connections (CI: "Empty reply from server").
        #expect(Self.inode(descriptor) == listening, "the listening socket is still open while the thread may accept on it")
        release.signal()
        let closed = try await eventually(within: .seconds(10)) { Self.inode(descriptor) != listening }
        #expect(closed, "the accept thread closed it as it left")
    }
}
