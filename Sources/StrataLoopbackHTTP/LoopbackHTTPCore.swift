import Strata
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The listening socket, the handler and the record of requests, shared by the accept
/// thread and the connection threads.
final class LoopbackHTTPCore: Sendable {
    let listener: Int32
    private let beforeAccept: (@Sendable () -> Void)?
    private let handler: LoopbackHTTPServer.Handler
    private let clock: any StrataClock
    private let state = Lock(State())

    private struct State {
        var requests: [LoopbackHTTPServer.Request] = []
        var stopped = false
        /// The accept thread closed the listening socket (as it left): nothing may use its number.
        var listenerClosed = false
    }

    init(listener: Int32, handler: @escaping LoopbackHTTPServer.Handler, clock: any StrataClock, beforeAccept: (@Sendable () -> Void)?) {
        self.listener = listener
        self.beforeAccept = beforeAccept
        self.handler = handler
        self.clock = clock
    }

    var requests: [LoopbackHTTPServer.Request] { state.withLock { $0.requests } }

    /// Stops accepting. shutdown() wakes the thread blocked in accept() (close() alone would
    /// not on Linux) and makes its next accept() fail; the thread closes the descriptor as
    /// it leaves. Closed here, its number could go to another server's socket before the
    /// thread's next accept(), which would then take, and drop, that server's connections.
    func stop() {
        state.withLock { state in
            guard !state.stopped else { return }
            state.stopped = true
            // Under the lock, so the accept thread cannot close the socket meanwhile.
            if !state.listenerClosed { shutdown(listener, Int32(SHUT_RDWR)) }
        }
    }

    /// Closes the listening socket when no accept thread could be started to own it.
    func closeWithoutAccepting() {
        state.withLock { state in
            state.stopped = true
            state.listenerClosed = true
            close(listener)
        }
    }

    func acceptLoop() {
        defer {
            state.withLock { state in
                state.listenerClosed = true
                close(listener)
            }
        }
        while true {
            beforeAccept?()
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                switch errno {
                case EINTR, ECONNABORTED: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory for now: the connection waits in the
                    // backlog. Stop only when stopped (shutdown() makes accept fail with
                    // EINVAL), not for good at the first shortage.
                    if state.withLock({ $0.stopped }) { return }
                    usleep(10_000)
                    continue
                default: return
                }
            }
            if state.withLock({ $0.stopped }) {
                close(connection)
                return
            }
            // A thread per connection, not Dispatch's shared pool: a connection is held
            // for a response's delay or a client's 10 s of silence, and on Linux blocked
            // pool threads hold back every task of the process (`OwnThread`).
            do {
                try OwnThread.start(named: "strata-http") { [self] in serve(connection) }
            } catch {
                close(connection)
            }
        }
    }

    private func serve(_ connection: Int32) {
        defer { close(connection) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let request = readRequest(connection) else { return }
        let stopped = state.withLock { state in
            if !state.stopped { state.requests.append(request) }
            return state.stopped
        }
        if stopped { return }
        let response = handler(request)
        if response.delay > .zero {
            let (seconds, attoseconds) = response.delay.components
            usleep(UInt32(seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
        }
        if response.dropsConnection { return }
        sendAll(connection, serialize(response, for: request))
    }

    private func readRequest(_ connection: Int32) -> LoopbackHTTPServer.Request? {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        var headerEnd: Int?
        while headerEnd == nil {
            let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }  // a signal, not the peer: read again
            guard count > 0 else { return nil }
            buffer += chunk[0..<count]
            headerEnd = Self.endOfHeaders(in: buffer)
            if buffer.count > 1 << 20 { return nil }
        }
        guard let headerEnd else { return nil }
        let head = String(decoding: buffer[0..<headerEnd], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingSpaces
            headers.append((name, value))
        }
        var request = LoopbackHTTPServer.Request(method: String(requestLine[0]), target: String(requestLine[1]), headers: headers, body: [])
        let length = Int(request.header("content-length") ?? "0") ?? 0
        var body = Array(buffer[(headerEnd + 4)...])
        while body.count < length {
            let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            body += chunk[0..<count]
        }
        request.body = Array(body.prefix(length))
        return request
    }

    static func endOfHeaders(in buffer: [UInt8]) -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4)
        where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }

    private func serialize(_ response: LoopbackHTTPServer.Response, for request: LoopbackHTTPServer.Request) -> [UInt8] {
        var head = "HTTP/1.1 \(response.status) \(LoopbackHTTPServer.reason(response.status))\r\n"
        var hasDate = false
        for (name, value) in response.headers {
            if name.lowercased() == "date" { hasDate = true }
            if name.lowercased() == "content-length" || name.lowercased() == "connection" { continue }
            head += "\(name): \(value)\r\n"
        }
        if !hasDate { head += "Date: \(LoopbackHTTPServer.httpDate(Int(clock.now().millisecondsSince1970 / 1000)))\r\n" }
        let bodyAllowed = request.method != "HEAD" && response.status != 304 && response.status != 204
        head += "Content-Length: \(bodyAllowed || request.method == "HEAD" ? response.body.count : 0)\r\n"
        head += "Connection: close\r\n\r\n"
        return Array(head.utf8) + (bodyAllowed ? response.body : [])
    }

    private func sendAll(_ connection: Int32, _ bytes: [UInt8]) {
        var offset = 0
        let flags: Int32
        #if canImport(Glibc)
        flags = Int32(MSG_NOSIGNAL)
        #else
        flags = 0
        #endif
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { send(connection, $0.baseAddress! + offset, bytes.count - offset, flags) }
            if sent < 0 && errno == EINTR { continue }
            if sent <= 0 { return }
            offset += sent
        }
    }

}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
