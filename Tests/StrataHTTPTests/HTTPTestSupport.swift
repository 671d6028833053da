import Foundation
import Strata
import StrataHTTP
import StrataTestSupport
import StrataTesting
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if AsyncHTTPClient
import AsyncHTTPClient
#endif

/// How the cache reaches the origin: the suite runs over each (AsyncHTTPClient with its trait).
enum Transport: String, CustomStringConvertible, Sendable, CaseIterable {
    case urlSession
    case httpClient

    #if AsyncHTTPClient
    static let all: [Transport] = [.urlSession, .httpClient]
    #else
    static let all: [Transport] = [.urlSession]
    #endif

    var description: String { rawValue }

    #if AsyncHTTPClient
    /// One client for the run (never shut down), that fails at once on an origin that is
    /// down, as Docs/Integrations.md advises: AsyncHTTPClient otherwise retries
    /// connecting until the request's deadline, which would hold back stale-if-error.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
    #endif

    func cache(over store: any KeyValueStore, configuration: HTTPCache.Configuration, session: URLSession? = nil) throws -> HTTPCache {
        switch self {
        case .urlSession:
            return try HTTPCache(store: store, session: session, configuration: configuration)
        case .httpClient:
            precondition(session == nil, "a URLSession is the urlSession transport's")
            #if AsyncHTTPClient
            return try HTTPCache(store: store, httpClient: Self.client, configuration: configuration)
            #else
            preconditionFailure("the AsyncHTTPClient transport needs the AsyncHTTPClient trait")
            #endif
        }
    }
}

typealias OriginResponse = LoopbackHTTPServer.Response

/// A value tests and origin handlers share across threads.
final class Shared<Value: Sendable>: Sendable {
    private let storage: Lock<Value>
    init(_ value: Value) { storage = Lock(value) }
    var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
    func update<T>(_ body: (inout Value) -> T) -> T { storage.withLock { body(&$0) } }
}

/// A loopback origin, a cache over a MemoryStore on a manual clock, and shorthands.
struct Harness {
    let origin: LoopbackHTTPServer
    let store: MemoryStore
    let clock: ManualClock
    let cache: HTTPCache

    init(
        transport: Transport = .urlSession,
        configuration: HTTPCache.Configuration = .init(),
        session: URLSession? = nil,
        handler: @escaping LoopbackHTTPServer.Handler
    ) throws {
        clock = ManualClock()
        origin = try LoopbackHTTPServer(clock: clock, handler: handler)
        store = MemoryStore(configuration: .init(clock: clock))
        cache = try transport.cache(over: store, configuration: configuration, session: session)
    }

    func url(_ path: String) -> URL { URL(string: origin.baseURL + path)! }

    func request(_ path: String, method: String = "GET", headers: [String: String] = [:]) -> URLRequest {
        var request = URLRequest(url: url(path))
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        return request
    }

    func get(_ path: String, headers: [String: String] = [:], expires: Expiry? = nil) async throws -> HTTPCache.Response {
        try await cache.response(for: request(path, headers: headers), expires: expires)
    }

    func hits(_ path: String) -> Int { origin.requests(path: path).count }

    func advance(seconds: Int) { clock.advance(by: .seconds(seconds)) }
}

extension HTTPCache.Response {
    var text: String { String(decoding: data, as: UTF8.self) }
}

func body(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A store whose next read (``holdNextRead()``) or next lease (``holdNextLease()``), whatever
/// its key, waits until the test opens the gate it returns.
final class CallHoldingStore: ForwardingStore, @unchecked Sendable {  // `held` is locked
    private struct Held {
        var read: AsyncGate?
        var lease: AsyncGate?
    }

    private let held = Lock(Held())

    func holdNextRead() -> AsyncGate { hold(\.read) }

    func holdNextLease() -> AsyncGate { hold(\.lease) }

    private func hold(_ call: WritableKeyPath<Held, AsyncGate?> & Sendable) -> AsyncGate {
        let gate = AsyncGate()
        held.withLock { $0[keyPath: call] = gate }
        return gate
    }

    /// Waits at the gate set for `call`, if one is, and clears it.
    private func wait(at call: WritableKeyPath<Held, AsyncGate?> & Sendable) async {
        let gate = held.withLock { held -> AsyncGate? in
            defer { held[keyPath: call] = nil }
            return held[keyPath: call]
        }
        await gate?.wait()
    }

    override func entry(forKey key: String) async throws -> StoredEntry? {
        await wait(at: \.read)
        return try await base.entry(forKey: key)
    }

    override func leaseEntry(forKey key: String, lease: EntryLease, duration: Duration) async throws -> StoredEntry? {
        await wait(at: \.lease)
        return try await base.leaseEntry(forKey: key, lease: lease, duration: duration)
    }
}
