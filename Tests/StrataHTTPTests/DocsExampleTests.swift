import Foundation
import StrataHTTP
import StrataTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The examples of README.md and Docs/HTTPCaching.md, kept compiling and true.
@Suite("HTTP docs examples")
struct DocsExampleTests {
    @Test("README: one line per call, and expires: for a fixed lifetime")
    func readme() async throws {
        let origin = try LoopbackHTTPServer { request in
            request.path == "/rates"
                ? .init(body: Array("1.08".utf8)) : .init(headers: [("Cache-Control", "max-age=60")], body: Array("item".utf8))
        }
        let cache = MemoryStore()
        let url = URL(string: origin.baseURL + "/item")!, ratesURL = URL(string: origin.baseURL + "/rates")!

        let http = try HTTPCache(store: cache)  // any KeyValueStore
        let (data, response) = try await http.data(for: URLRequest(url: url))
        let (rates, _) = try await http.data(for: URLRequest(url: ratesURL), expires: "10min")

        #expect(String(decoding: data, as: UTF8.self) == "item" && HTTPCache.Source(response) == .network)
        #expect(HTTPCache.Source(try await http.data(for: URLRequest(url: url)).1) == .cache)
        #expect(String(decoding: rates, as: UTF8.self) == "1.08")
        #expect(HTTPCache.Source(try await http.data(for: URLRequest(url: ratesURL)).1) == .cache)
        #expect(origin.requests.count == 2)
    }

    @Test("HTTPCaching.md: testing with LoopbackHTTPServer and a manual clock")
    func testingExample() async throws {
        let clock = ManualClock()
        let origin = try LoopbackHTTPServer(clock: clock) { _ in
            .init(headers: [("Cache-Control", "max-age=60")], body: Array("hi".utf8))
        }
        let http = try HTTPCache(store: MemoryStore(configuration: .init(clock: clock)))
        let url = URL(string: origin.baseURL + "/greeting")!
        _ = try await http.data(from: url)
        clock.advance(by: .seconds(30))
        let (_, second) = try await http.data(from: url)  // from the store
        #expect(HTTPCache.Source(second) == .cache)
        #expect(origin.requests(path: "/greeting").count == 1)
    }
}
