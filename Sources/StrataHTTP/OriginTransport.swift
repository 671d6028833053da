import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What the origin answered, before any caching decision.
struct TransportAnswer: Sendable {
    var statusCode: Int
    var headers: [String: String]
    var body: [UInt8]
}

/// How ``HTTPCache`` reaches origins: the HTTP semantics stay in `HTTPCache`, a transport
/// only sends one request and hands back the answer. `URLSession` is always there;
/// AsyncHTTPClient's `HTTPClient` comes with the `AsyncHTTPClient` trait.
protocol OriginTransport: Sendable {
    /// Sends `request` as it is (its conditional fields included); throws what the
    /// client threw when no HTTP answer came (a `CancellationError` when cancelled).
    func send(_ request: URLRequest) async throws -> TransportAnswer

    /// Fields the client adds to every request (they select `Vary` variants too).
    var additionalHeaders: [String: String] { get }
}

/// `URLSession`, with Foundation's own cache out of the way.
struct URLSessionTransport: OriginTransport {
    let session: URLSession
    /// Read once: a session sends the fields of the configuration it was made with (changing
    /// a configuration object afterwards changes nothing it sends), and turning them into
    /// fields on every request (a dictionary of `Any` cast field by field, then sorted) was
    /// about a twentieth of a fresh hit.
    let additionalHeaders: [String: String]

    init(session: URLSession) {
        self.session = session
        var headers: [String: String] = [:]
        for (name, value) in session.configuration.httpAdditionalHeaders ?? [:] {
            if let name = name as? String, let value = value as? String { headers[name] = value }
        }
        additionalHeaders = headers
    }

    func send(_ request: URLRequest) async throws -> TransportAnswer {
        var outgoing = request
        outgoing.cachePolicy = .reloadIgnoringLocalCacheData
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await session.data(for: outgoing)
        } catch let error as URLError where error.code == .cancelled {
            throw CancellationError()
        }
        guard let http = response as? HTTPURLResponse else { throw NotHTTP() }
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { headers[name] = value }
        }
        return TransportAnswer(statusCode: http.statusCode, headers: headers, body: [UInt8](data))
    }

    /// An answer that is not an HTTP response (a `file:` URL's, say).
    struct NotHTTP: Error, CustomStringConvertible {
        var description: String { "the answer is not an HTTP response" }
    }
}
