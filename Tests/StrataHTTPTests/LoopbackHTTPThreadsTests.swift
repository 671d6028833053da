import Foundation
import StrataLoopbackHTTP
import StrataTestSupport
import StrataTesting
import Testing

/// Work that blocks for as long as someone else decides (a handler, a client's silence)
/// runs on threads of its own, never on `DispatchQueue.global()`: on Linux that pool adds
/// a thread a second while its threads are blocked, and every `Task.sleep` of the process
/// resumes through it, so each blocked item there held back every timer of the process.
@Suite("LoopbackHTTPServer's threads")
struct LoopbackHTTPThreadsTests {
    @Test(
        "300 requests held by their handler hold back no timer of the process: a sleep ends while they wait, then all are answered",
        .timeLimit(.minutes(1)))
    func heldRequests() async throws {
        let held = 300
        let release = DispatchSemaphore(value: 0)
        let server = try LoopbackHTTPServer(
            clock: SystemClock(),
            handler: { request in
                release.wait()
                return .init(body: Array(request.path.utf8))
            })
        var clients: [RawClient] = []
        for index in 0..<held {
            let client = try await RawClient(port: server.port)
            try await client.send("GET /\(index) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            clients.append(client)
        }
        // Every connection is on its handler (recorded before it is handed over), blocked.
        #expect(try await eventually(within: .seconds(30)) { server.requests.count == held })
        // Fails on a server that serves each connection on Dispatch's shared pool: the
        // sleep's wake-up waits behind the 300 blocked connections (a thread a second,
        // 255 at most), so the test hangs past its time limit.
        try await Task.sleep(for: .milliseconds(1))
        for _ in 0..<held { release.signal() }
        for (index, client) in clients.enumerated() {
            #expect(await client.read(waitingAtMost: .seconds(10)) == .bytes("HTTP/1.1 200 OK\r\n"), "request \(index)")
            client.close()
        }
    }
}
