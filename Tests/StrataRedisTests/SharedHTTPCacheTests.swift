import Foundation
import Strata
import StrataHTTP
import StrataRedis
import StrataTestSupport
import StrataTesting
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Two application instances, each with its own HTTPCache over its own TieredStore, share
/// one Redis: what one fetched, the other serves; what one invalidates, neither serves.
@Test("HTTPCache over Redis: responses are shared between instances, and invalidation reaches both")
func sharedHTTPCache() async throws {
    let version = Counter(1)
    let origin = try LoopbackHTTPServer { request in
        if request.method == "PUT" {
            version.increment()
            return .init(status: 204)
        }
        return .init(headers: [("Cache-Control", "max-age=600")], body: Array("v\(version.count)".utf8))
    }
    let url = try await RedisTestServer.shared
    let a = try Instance(url: url), b = try Instance(url: url)
    try await a.waitUntilSubscribed(via: b)
    try await b.waitUntilSubscribed(via: a)
    var configuration = HTTPCache.Configuration()
    configuration.keyPrefix = "http-\(UUID().uuidString):"
    let httpA = try HTTPCache(store: a.cache, configuration: configuration)
    let httpB = try HTTPCache(store: b.cache, configuration: configuration)
    let item = URL(string: origin.baseURL + "/item")!

    #expect(try await httpA.response(for: URLRequest(url: item)).source == .network)
    let onB = try await httpB.response(for: URLRequest(url: item))
    #expect(onB.source == .cache && String(decoding: onB.data, as: UTF8.self) == "v1")
    #expect(origin.requests.count == 1)

    // A PUT through B invalidates the URL in Redis and, through the bus, in A's memory tier.
    var put = URLRequest(url: item)
    put.httpMethod = "PUT"
    _ = try await httpB.response(for: put)
    #expect(try await eventually { try await a.cache.l1.entry(forKey: configuration.keyPrefix + item.absoluteString) == nil })
    let afterPut = try await httpA.response(for: URLRequest(url: item))
    #expect(afterPut.source == .network && String(decoding: afterPut.data, as: UTF8.self) == "v2")

    for instance in [a, b] {
        instance.subscription.cancel()
        try await instance.cache.clear(prefix: configuration.keyPrefix)
        try await instance.cache.close()
    }
}
