// An example of Docs/Integrations.md, compiled, so the guide cannot drift from the API.
#if AsyncHTTPClient
import AsyncHTTPClient
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Strata
import StrataHTTP

enum AsyncHTTPClientGuideExample {
    // Docs/Integrations.md, "AsyncHTTPClient".
    static func fetch(cache: TieredStore, url: String) async throws -> HTTPCache.Source {
        let http = try HTTPCache(store: cache, httpClient: .shared)
        let response = try await http.response(for: URLRequest(url: URL(string: url)!))
        return response.source  // .network, then .cache while fresh
    }
}
#endif
