import Strata

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The engine of a ``TCPProxy``: its listening socket, its connections and the loop that
/// forwards between them, on the proxy's own thread.
///
/// Who touches what: `pairs` and `frozen` belong to the loop's thread alone; other
/// threads hand it commands through `shared` and wake it through the pipe, and read what
/// it publishes in `status`.
final class TCPForwarder: @unchecked Sendable {  // loop state touched by the loop's thread only
    enum Command { case freeze, thaw, cut }

    struct Status {
        var frozen = false
        var open = 0
        var accepted = 0
    }

    private struct Shared {
        var commands: [(Command, CheckedContinuation<Void, Never>)] = []
        var stopping = false
        var status = Status()
    }

    private let listener: Int32
    private let upstream: TCPProxy.Upstream
    private let wakeReader: Int32
    private let wakeWriter: Int32
    private let shared = Lock(Shared())
    private var pairs: [Pair] = []
    private var frozen = false

    init(listener: Int32, upstream: TCPProxy.Upstream) throws(StrataError) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw TCPProxy.failure("pipe") }
        guard prepare(ends[0]), prepare(ends[1]) else {
            let error = TCPProxy.failure("fcntl")
            ends.forEach(closeSocket)
            throw error
        }
        self.listener = listener
        self.upstream = upstream
        (wakeReader, wakeWriter) = (ends[0], ends[1])
    }

    var status: Status { shared.withLock { $0.status } }

    /// Hands `command` to the loop and returns once the loop applied it (at once when the
    /// proxy is closed).
    func perform(_ command: Command) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let queued = shared.withLock { shared -> Bool in
                if shared.stopping { return false }
                shared.commands.append((command, continuation))
                return true
            }
            if queued { wake() } else { continuation.resume() }
        }
        SanitizerHandOff.receive(through: self)
    }

    func requestStop() {
        shared.withLock { $0.stopping = true }
        wake()
    }

    /// After the loop's thread ended (or never started): the pipe is the last thing open.
    func closeWakePipe() {
        closeSocket(wakeReader)
        closeSocket(wakeWriter)
    }

    /// When the thread could not be started: nothing but the listener and the pipe exist.
    func closeUnstarted() {
        closeSocket(listener)
        closeWakePipe()
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWriter, &byte, 1)  // a full pipe already holds a wake-up
    }

    /// The loop: apply commands, wait for any socket (or a wake-up), forward, repeat.
    func run() {
        while true {
            let (commands, stopping) = shared.withLock { shared in
                defer { shared.commands = [] }
                return (shared.commands, shared.stopping)
            }
            for (command, continuation) in commands {
                apply(command)
                publishStatus()
                SanitizerHandOff.handOff(through: self)  // also to a caller not suspended yet
                continuation.resume()
            }
            if stopping { break }
            var watched = [
                pollfd(fd: wakeReader, events: Int16(POLLIN), revents: 0),
                pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
            ]
            var owners: [(pair: Pair, direction: Int, writing: Bool)] = []
            if !frozen {
                // A frozen connection is not even watched: its peers' FIN or RST stays unseen too.
                for pair in pairs {
                    for index in 0..<2 {
                        let direction = pair.directions[index]
                        if !direction.pending.isEmpty {
                            watched.append(pollfd(fd: direction.to, events: Int16(POLLOUT), revents: 0))
                            owners.append((pair, index, true))
                        } else if !direction.ended {
                            watched.append(pollfd(fd: direction.from, events: Int16(POLLIN), revents: 0))
                            owners.append((pair, index, false))
                        }
                    }
                }
            }
            let ready = poll(&watched, nfds_t(watched.count), -1)
            if ready < 0 { continue }  // EINTR
            if watched[0].revents != 0 { drainWakeUps() }
            if watched[1].revents != 0 { acceptAll() }
            for (index, owner) in owners.enumerated() where watched[index + 2].revents != 0 && !owner.pair.closed {
                if owner.writing { flush(owner.pair, owner.direction) } else { forward(owner.pair, owner.direction) }
            }
            pairs.removeAll { $0.closed }
            publishStatus()
        }
        // Stopping: every connection reset, the listener closed; the caller joins, then closes the pipe.
        pairs.forEach { $0.reset() }
        pairs = []
        closeSocket(listener)
        publishStatus()
        let late = shared.withLock { shared in
            defer { shared.commands = [] }
            return shared.commands
        }
        SanitizerHandOff.handOff(through: self)
        late.forEach { $0.1.resume() }
    }

    private func apply(_ command: Command) {
        switch command {
        case .freeze: frozen = true
        case .thaw: frozen = false
        case .cut:
            pairs.forEach { $0.reset() }
            pairs = []
        }
    }

    private func publishStatus() {
        let (frozen, open) = (frozen, pairs.count)
        shared.withLock {
            $0.status.frozen = frozen
            $0.status.open = open
        }
    }

    private func drainWakeUps() {
        var bytes = [UInt8](repeating: 0, count: 64)
        while bytes.withUnsafeMutableBytes({ read(wakeReader, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// Accepts every waiting connection and joins each to a new upstream connection; a
    /// connection whose upstream cannot be reached is reset.
    private func acceptAll() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return  // EAGAIN: none left (or an error the next poll reports again)
            }
            shared.withLock { $0.status.accepted += 1 }
            guard prepare(client) else {
                resetSocket(client)
                continue
            }
            guard let server = connectUpstream() else {
                resetSocket(client)
                continue
            }
            pairs.append(Pair(client: client, server: server))
        }
    }

    /// A connected, non-blocking socket to the upstream, or `nil`. The connect itself
    /// blocks this thread (the proxy's own) for a loopback or local server's moment.
    private func connectUpstream() -> Int32? {
        switch upstream {
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = streamSocket
            var found: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else { return nil }
            defer { freeaddrinfo(first) }
            var candidate: UnsafeMutablePointer<addrinfo>? = first
            while let address = candidate {
                candidate = address.pointee.ai_next
                let descriptor = socket(address.pointee.ai_family, streamSocket, 0)
                guard descriptor >= 0 else { continue }
                if connect(descriptor, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0, prepare(descriptor) {
                    var on: Int32 = 1
                    _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
                    return descriptor
                }
                closeSocket(descriptor)
            }
            return nil
        case .unix(let path):
            let descriptor = socket(AF_UNIX, streamSocket, 0)
            guard descriptor >= 0 else { return nil }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                closeSocket(descriptor)
                return nil
            }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard connected == 0, prepare(descriptor) else {
                closeSocket(descriptor)
                return nil
            }
            return descriptor
        }
    }

    /// Reads what `from` holds and passes it on (what the peer does not take at once waits
    /// in `pending`, and reading stops until it is gone).
    private func forward(_ pair: Pair, _ index: Int) {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let count = chunk.withUnsafeMutableBytes { recv(pair.directions[index].from, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            pair.directions[index].pending = Array(chunk[0..<count])
            flush(pair, index)
        } else if count == 0 {
            pair.directions[index].ended = true
            flush(pair, index)
        } else if errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK {
            pair.reset()  // the peer reset: so does the proxy, to the other peer
        }
    }

    /// Sends what waits in one direction; passes an ended stream's end on once all is sent.
    private func flush(_ pair: Pair, _ index: Int) {
        let direction = pair.directions[index]
        var pending = direction.pending[...]
        while !pending.isEmpty {
            let sent = pending.withUnsafeBytes { send(direction.to, $0.baseAddress, $0.count, sendFlags) }
            if sent > 0 {
                pending = pending.dropFirst(sent)
            } else if sent < 0 && errno == EINTR {
                continue
            } else if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                break
            } else {
                pair.reset()
                return
            }
        }
        pair.directions[index].pending = Array(pending)
        if pending.isEmpty && direction.ended { pair.finish(index) }
    }

    /// One accepted connection and its upstream connection: `directions[0]` carries the
    /// client's bytes to the server, `directions[1]` the server's to the client.
    private final class Pair {
        struct Direction {
            let from: Int32
            let to: Int32
            var pending: [UInt8] = []
            var ended = false
            var finished = false
        }

        var directions: [Direction]
        private(set) var closed = false

        init(client: Int32, server: Int32) {
            directions = [Direction(from: client, to: server), Direction(from: server, to: client)]
        }

        /// Passes one direction's end on (a half close); closes the pair when both ended.
        func finish(_ index: Int) {
            guard !directions[index].finished else { return }
            directions[index].finished = true
            _ = shutdown(directions[index].to, Int32(SHUT_WR))
            if directions.allSatisfy(\.finished) {
                closed = true
                closeSocket(directions[0].from)
                closeSocket(directions[0].to)
            }
        }

        /// Closes both sockets with a reset.
        func reset() {
            guard !closed else { return }
            closed = true
            resetSocket(directions[0].from)
            resetSocket(directions[0].to)
        }
    }
}

/// Closes `descriptor` so that the peer gets a reset (RST), not an orderly end.
private func resetSocket(_ descriptor: Int32) {
    var option = linger(l_onoff: 1, l_linger: 0)
    _ = setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
    closeSocket(descriptor)
}

#if canImport(Darwin)
private let sendFlags: Int32 = 0  // the sockets are SO_NOSIGPIPE there
#else
/// A peer that went away is an EPIPE error, never a SIGPIPE.
private let sendFlags = Int32(MSG_NOSIGNAL)
#endif
