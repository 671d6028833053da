import Foundation
import StrataLoopbackHTTP
import StrataTestSupport
import StrataTesting
import Testing

/// Work that blocks for as long as someone else decides (a handler, a client's silence)
/// runs on threads of its own, never on `DispatchQueue.global()`: on Linux that pool adds
/// a thread a second while its threads are blocked, and Swift's tasks run on its threads,
/// so each blocked item there held back every task of the process.
@Suite("LoopbackHTTPServer's threads")
struct LoopbackHTTPThreadsTests {
    @Test(
        "64 requests held by their handler hold back no task of the process: new tasks run and a sleep ends while they wait, then all are answered"
    )
    func heldRequests() async throws {
        let count = 64
        // A watchdog far beyond the setup's bound: in the full parallel suite, connecting 64
        // clients took long enough once that the 20 s it had left too little after them.
        let held = HeldWork(holders: count, releasingAfter: .seconds(60))
        let started = ContinuousClock.now
        defer { held.release() }
        let server = try LoopbackHTTPServer(
            clock: SystemClock(),
            handler: { request in
                held.hold()
                return .init(body: Array(request.path.utf8))
            })
        var clients: [RawClient] = []
        defer { clients.forEach { $0.close() } }
        for index in 0..<count {
            let client = try await RawClient(port: server.port)
            clients.append(client)
            try await client.send("GET /\(index) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        }
        // Within the watchdog's 60 s: work merely slow to start must not pass for a late sleep.
        try #require(try await eventually(within: .seconds(30)) { held.holding == count })
        let setUp = ContinuousClock.now - started
        // Where each connection is served on Dispatch's shared pool, these tasks run and
        // this sleep ends only after the watchdog released the handlers, 60 s on.
        await withTaskGroup(of: Void.self) { tasks in for _ in 0..<8 { tasks.addTask {} } }
        try await Task.sleep(for: .milliseconds(1))
        #expect(
            !held.isReleased,
            "eight new tasks and a 1 ms sleep ended only after the held requests were released (all held after \(setUp))")
        held.release()
        for (index, client) in clients.enumerated() {
            #expect(await client.read(waitingAtMost: .seconds(10)) == .bytes("HTTP/1.1 200 OK\r\n"), "request \(index)")
        }
    }
}
