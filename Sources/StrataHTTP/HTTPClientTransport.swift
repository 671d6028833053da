#if AsyncHTTPClient
import AsyncHTTPClient
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NIOCore
import NIOHTTP1

/// AsyncHTTPClient's `HTTPClient` as the cache's way to origins (with the
/// `AsyncHTTPClient` trait).
struct HTTPClientTransport: OriginTransport {
    let client: HTTPClient
    let timeout: TimeAmount

    func send(_ request: URLRequest) async throws -> TransportAnswer {
        guard let url = request.url else { throw URLError(.badURL) }
        var outgoing = HTTPClientRequest(url: url.absoluteString)
        outgoing.method = HTTPMethod(rawValue: request.httpMethod ?? "GET")
        for (name, value) in request.allHTTPHeaderFields ?? [:] { outgoing.headers.replaceOrAdd(name: name, value: value) }
        if let body = request.httpBody { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        try Task.checkCancellation()
        let response = try await client.execute(outgoing, timeout: timeout)
        let body = try await response.body.collect(upTo: .max)
        // One value per field name, repeated fields joined as RFC 9110 §5.3 allows (as URLSession does).
        var headers: [String: String] = [:]
        for field in response.headers {
            let name = field.name.lowercased()
            headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
        }
        return TransportAnswer(statusCode: Int(response.status.code), headers: headers, body: Array(buffer: body))
    }

    var additionalHeaders: [String: String] { [:] }
}
#endif
