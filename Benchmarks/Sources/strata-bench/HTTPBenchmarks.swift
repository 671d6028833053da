import Foundation
import Strata
import StrataHTTP
import StrataTesting

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// HTTPCache: a fresh hit beside the loopback fetch it saves (URLSession to a local
/// origin) and beside a plain MemoryStore read of the same bytes.
nonisolated func httpBenchmarks(quick: Bool) async throws {
    heading("HTTPCache: fresh hits over a MemoryStore, beside a URLSession fetch from 127.0.0.1")
    let body = [UInt8](repeating: 65, count: 2_048)
    let origin = try LoopbackHTTPServer { _ in .init(headers: [("Cache-Control", "max-age=3600"), ("ETag", "\"v1\"")], body: body) }
    defer { origin.stop() }
    let store = MemoryStore()
    let cache = try HTTPCache(store: store)
    let session = URLSession(configuration: .ephemeral)
    let urls = (0..<100).map { URL(string: origin.baseURL + "/items/\($0)")! }
    for url in urls { _ = try await cache.data(from: url) }
    // The keys the cache stored the responses under: the baseline reads them as the cache
    // does, an entry's bytes (a typed `[UInt8]` get is another path of the store's).
    let storedKeys = try await store.storedKeys(prefix: "")
    guard storedKeys.count == urls.count else { fatalError("the cache stored \(storedKeys.count) responses for \(urls.count) URLs") }
    try await store.set("bytes", body)
    // Made ahead: building a URLRequest is Foundation's work, the caller's, not the cache's.
    let requests = urls.map { URLRequest(url: $0) }

    var rounds = InterleavedRounds(rounds: quick ? 2 : 7, operationsPerRound: quick ? 100 : 1_000)
    for _ in 0..<rounds.rounds {
        // Each round starts after a pause and a round of hits not measured: the threads a
        // loopback fetch wakes (the session's, the origin's; the priming fetches above, or the
        // round before's) went on running into the measurement after them, which measured a
        // fresh hit 1.2x-1.4x slower there than later in the round, and the first measurement
        // after the pause alone still ran 1.06x-1.2x slower than the same work measured second
        // (2026-12-07/08).
        try await Task.sleep(for: .milliseconds(100))
        for index in 0..<rounds.operationsPerRound { _ = try await cache.response(for: requests[index % requests.count]) }
        try await rounds.measure("HTTPCache hit", keyCount: urls.count) { _ = try await cache.response(for: requests[$0]) }
        // A hit's Age and Cache-Status are written when its fields are read: what a caller
        // that reads one pays beside one that reads the body alone.
        try await rounds.measure("HTTPCache hit, Cache-Status read", keyCount: urls.count) {
            _ = try await cache.response(for: requests[$0]).value(forHeader: "Cache-Status")
        }
        try await rounds.measure("HTTPCache hit, data(for:)", keyCount: urls.count) { _ = try await cache.data(from: urls[$0]) }
        try await rounds.measure("MemoryStore entry of a stored response", keyCount: urls.count) {
            _ = try await store.entry(forKey: storedKeys[$0])
        }
        try await rounds.measure("MemoryStore get of the body", keyCount: urls.count) { _ in
            _ = try await store.get("bytes", as: [UInt8].self)
        }
        // Last: see the pause above.
        try await rounds.measure("URLSession fetch", keyCount: urls.count) { index in
            var request = URLRequest(url: urls[index])
            request.cachePolicy = .reloadIgnoringLocalCacheData
            _ = try await session.data(for: request)
        }
    }
    let report = Report.shared
    report.record("http", "URLSession GET from a loopback origin (2 KiB)", rounds.median("URLSession fetch"))
    report.compare(
        "http", "HTTPCache fresh hit, response(for:) (2 KiB)", rounds.median("HTTPCache hit"),
        to: "URLSession GET from a loopback origin (2 KiB)", rounds.median("URLSession fetch"))
    report.compare(
        "http", "HTTPCache fresh hit, reading its Cache-Status", rounds.median("HTTPCache hit, Cache-Status read"),
        to: "HTTPCache fresh hit, response(for:) (2 KiB)", rounds.median("HTTPCache hit"))
    report.compare(
        "http", "HTTPCache fresh hit, data(for:) (2 KiB; builds an HTTPURLResponse)", rounds.median("HTTPCache hit, data(for:)"),
        to: "URLSession GET from a loopback origin (2 KiB)", rounds.median("URLSession fetch"))
    report.compare(
        "http", "HTTPCache fresh hit (vs the store read inside it)", rounds.median("HTTPCache hit"),
        to: "MemoryStore entry(forKey:) of the stored response, as the cache reads it",
        rounds.median("MemoryStore entry of a stored response"))
    // The baseline of the figures before 2026-12-04 17:45 UTC (and of issue 27's 44x): a
    // typed get of a body of the same size, a path of the store's that the cache does not take.
    report.compare(
        "http", "HTTPCache fresh hit (vs a typed MemoryStore get of a 2 KiB body)", rounds.median("HTTPCache hit"),
        to: "MemoryStore get of the body", rounds.median("MemoryStore get of the body"))
}
