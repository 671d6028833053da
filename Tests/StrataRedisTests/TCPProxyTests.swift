import Dispatch
import Foundation
import StrataTestSupport
import StrataTesting
import Testing

@Suite("TCPProxy: a loopback path that can freeze and be cut")
struct TCPProxyTests {
    @Test(
        "forwards both ways; freeze: no reply and no end; thaw: the reply that waited; cut: a reset",
        .timeLimit(.minutes(1)))
    func freezeThawCut() async throws {
        let server = try await RedisTestServer()
        let proxy = try TCPProxy(upstream: .tcp(host: "127.0.0.1", port: server.port))
        defer { proxy.close() }
        let client = try await RawClient(port: proxy.port)
        defer { client.close() }

        try await client.send("PING\r\n")
        #expect(await client.read(waitingAtMost: .seconds(5)) == .bytes("+PONG\r\n"))

        await proxy.freeze()
        #expect(proxy.isFrozen)
        try await client.send("PING\r\n")
        #expect(await client.read(waitingAtMost: .milliseconds(300)) == .nothing, "frozen: no reply, no end, no error")

        // A connection made while frozen is accepted, and frozen too.
        let late = try await RawClient(port: proxy.port)
        defer { late.close() }
        try await late.send("PING\r\n")
        #expect(await late.read(waitingAtMost: .milliseconds(300)) == .nothing)
        #expect(proxy.openConnections == 2)

        await proxy.thaw()
        #expect(await client.read(waitingAtMost: .seconds(5)) == .bytes("+PONG\r\n"), "the PING that waited was delivered")
        #expect(await late.read(waitingAtMost: .seconds(5)) == .bytes("+PONG\r\n"))

        await proxy.cut()
        #expect(await client.read(waitingAtMost: .seconds(5)) == .failed(ECONNRESET), "cut: the peer sees a reset")
        #expect(await late.read(waitingAtMost: .seconds(5)) == .failed(ECONNRESET))
        #expect(proxy.openConnections == 0)
        #expect(try await server.cli("PING") == "PONG\n", "the server is untouched")

        // After a cut, new connections are forwarded as before.
        let again = try await RawClient(port: proxy.port)
        defer { again.close() }
        try await again.send("PING\r\n")
        #expect(await again.read(waitingAtMost: .seconds(5)) == .bytes("+PONG\r\n"))
        #expect(proxy.acceptedConnections == 3)
    }

    @Test("to a unix socket; a peer's orderly close is passed on", .timeLimit(.minutes(1)))
    func unixUpstreamAndOrderlyClose() async throws {
        let server = try await RedisTestServer()
        let proxy = try TCPProxy(upstream: .unix(path: server.socket))
        defer { proxy.close() }
        let client = try await RawClient(port: proxy.port)
        defer { client.close() }
        try await client.send("PING\r\n")
        #expect(await client.read(waitingAtMost: .seconds(5)) == .bytes("+PONG\r\n"))
        try await client.send("QUIT\r\n")  // the server answers, then closes its end
        #expect(await client.read(waitingAtMost: .seconds(5)) == .bytes("+OK\r\n"))
        #expect(await client.read(waitingAtMost: .seconds(5)) == .ended)
    }

    @Test("an upstream that refuses: the accepted connection is reset", .timeLimit(.minutes(1)))
    func refusedUpstream() async throws {
        let proxy = try TCPProxy(upstream: .tcp(host: "127.0.0.1", port: try RedisTestServer.freePort()))
        defer { proxy.close() }
        let client = try await RawClient(port: proxy.port)
        defer { client.close() }
        #expect(await client.read(waitingAtMost: .seconds(5)) == .failed(ECONNRESET))
    }

    #if os(Linux)
    @Test("close() resets the connections, stops listening, and leaves no descriptor open", .timeLimit(.minutes(1)))
    func closeLeavesNothing() async throws {
        let server = try await RedisTestServer()
        let proxy = try TCPProxy(upstream: .tcp(host: "127.0.0.1", port: server.port))
        let client = try await RawClient(port: proxy.port)
        defer { client.close() }
        try await client.send("PING\r\n")
        #expect(await client.read(waitingAtMost: .seconds(5)) == .bytes("+PONG\r\n"))
        await proxy.freeze()
        // The listener, the accepted connection and its upstream connection.
        #expect(openSockets(localPort: proxy.port, remotePort: server.port) == 3)
        proxy.close()
        #expect(openSockets(localPort: proxy.port, remotePort: server.port) == 0)
        #expect(await client.read(waitingAtMost: .seconds(5)) == .failed(ECONNRESET), "closed with a reset, even while frozen")
        await proxy.thaw()  // after close: returns at once
        let port = proxy.port
        await #expect(throws: (any Error).self, "nothing listens any more") { try await offPool { try RawClient.connectNow(port: port) } }
    }
    #endif
}

#if os(Linux)
/// How many of this process's descriptors are TCP sockets on `localPort` or to `remotePort`
/// (the kernel's socket table joined with /proc/self/fd by inode).
func openSockets(localPort: Int, remotePort: Int) -> Int {
    // Read to the end: /proc files report no size, and String(contentsOfFile:) stopped after the first lines here.
    let table = String(decoding: FileHandle(forReadingAtPath: "/proc/net/tcp")?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
    var inodes: Set<String> = []
    for line in table.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        guard fields.count > 9 else { continue }
        let local = Int(fields[1].split(separator: ":")[1], radix: 16)
        let remote = Int(fields[2].split(separator: ":")[1], radix: 16)
        if local == localPort || remote == remotePort { inodes.insert(String(fields[9])) }
    }
    let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return descriptors.filter { name in
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)") else { return false }
        return target.hasPrefix("socket:[") && inodes.contains(String(target.dropFirst(8).dropLast()))
    }.count
}
#endif
