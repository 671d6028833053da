import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a read found.
package enum ReadOutcome: Equatable {
    case bytes(String)
    case nothing
    case ended
    case failed(Int32)
}

/// A raw TCP client on loopback: every blocking call runs on a thread of its own
/// (`offPool`), never a cooperative one.
///
/// ```swift
/// let client = try await RawClient(port: server.port)
/// try await client.send("PING\r\n")
/// #expect(await client.read(waitingAtMost: .seconds(5)) == .bytes("+PONG\r\n"))
/// ```
package final class RawClient: Sendable {
    package let descriptor: Int32

    package init(port: Int) async throws {
        descriptor = try await offPool { try Self.connectNow(port: port) }
    }

    package static func connectNow(port: Int) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestServerError(message: "socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw TestServerError(message: "connect to 127.0.0.1:\(port) failed: errno \(code)")
        }
        return descriptor
    }

    package func send(_ text: String) async throws {
        let descriptor = descriptor
        let (sent, code) = await offPool {
            let sent = Array(text.utf8).withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            return (sent, errno)  // on the thread that sent
        }
        guard sent == text.utf8.count else { throw TestServerError(message: "send failed: errno \(code)") }
    }

    /// A whole line (up to CR LF), or what else happened within `limit`.
    package func read(waitingAtMost limit: Duration) async -> ReadOutcome {
        let descriptor = descriptor
        return await offPool {
            let deadline = ContinuousClock.now + limit
            var received: [UInt8] = []
            while true {
                let left = deadline - ContinuousClock.now
                var watched = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                let ready =
                    left > .zero
                    ? poll(&watched, 1, Int32(left.components.seconds * 1_000 + left.components.attoseconds / 1_000_000_000_000_000 + 1))
                    : 0
                if ready == 0 { return received.isEmpty ? .nothing : .bytes(String(decoding: received, as: UTF8.self)) }
                var chunk = [UInt8](repeating: 0, count: 1)  // a byte at a time: a line, never more
                let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, 1, 0) }
                if count == 0 { return received.isEmpty ? .ended : .bytes(String(decoding: received, as: UTF8.self)) }
                if count < 0 { return .failed(errno) }
                received += chunk
                if received.suffix(2) == [13, 10] { return .bytes(String(decoding: received, as: UTF8.self)) }
            }
        }
    }

    package func close() { Glibc.close(descriptor) }
}
