#if canImport(Glibc)
import Glibc
#endif
import CHiredis
import Strata

/// The thread that waits (in `epoll`) for replies on every pooled Redis connection of the
/// process, and hands each reply to the task waiting for it.
///
/// A caller writes its commands to the socket itself when its connection is idle (a
/// non-blocking write that the socket's buffer takes at once), so the only thread switch
/// of an uncontended call is the one that brings the reply to the waiting task. Callers
/// that come while a batch is out queue behind it, and this thread writes all of them in
/// one go when the batch's last reply arrives (auto-pipelining). It also fails a batch
/// whose reply is later than the command timeout, and closes sockets: it is the only
/// thread that closes a registered descriptor, so a descriptor number is never reused
/// while another thread may still read it.
final class RedisEventLoop: Sendable {
    /// The process's loop, started with the first store.
    static let shared = RedisEventLoop()

    private let epoll: Int32
    /// Written to when a socket is registered, so the loop re-plans its timeout checks.
    private let wakeUp: Int32
    private let registry = Lock<[UInt64: (socket: RedisSocket, lane: RedisLane)]>([:])

    private init() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1 failed: \(RedisSocket.describe(errno: errno))")
        wakeUp = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        precondition(wakeUp >= 0, "eventfd failed: \(RedisSocket.describe(errno: errno))")
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = 0  // no socket's token
        precondition(epoll_ctl(epoll, EPOLL_CTL_ADD, wakeUp, &event) == 0, "cannot watch the eventfd")
        startThread { [self] in run() }
    }

    /// Starts watching `socket` for `lane`. Called with the lane's lock held, before the
    /// socket's first write, so no event reaches the lane before it knows the socket.
    func register(_ socket: RedisSocket, for lane: RedisLane) throws {
        registry.withLock { $0[socket.token] = (socket, lane) }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
        event.data.u64 = socket.token
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, socket.descriptor, &event) == 0 else {
            let error = RedisConnectionError(description: "cannot watch the socket: \(RedisSocket.describe(errno: errno))")
            registry.withLock { _ = $0.removeValue(forKey: socket.token) }
            throw error
        }
        var one: UInt64 = 1
        _ = write(wakeUp, &one, 8)
    }

    /// Asks for (or stops asking for) "writable" events: while part of a batch waits for
    /// room in the socket's buffer. Called with the lane's lock held.
    func watchWritable(_ socket: RedisSocket, _ watch: Bool) {
        guard socket.writeArmed != watch else { return }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | (watch ? EPOLLOUT.rawValue : 0)
        event.data.u64 = socket.token
        if epoll_ctl(epoll, EPOLL_CTL_MOD, socket.descriptor, &event) == 0 {
            socket.writeArmed = watch
        } else {
            // Cannot happen for a registered, open socket; ending it beats a batch that
            // waits for an event that never comes.
            socket.shutDown()
        }
    }

    private func unregister(_ socket: RedisSocket) {
        registry.withLock { _ = $0.removeValue(forKey: socket.token) }
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, socket.descriptor, nil)
        socket.close()
    }

    private func run() {
        let capacity = 64
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        var lastTimeoutCheck = ContinuousClock.now
        var wait: Int32 = -1
        while true {
            let count = epoll_wait(epoll, events, Int32(capacity), wait)
            if count < 0 && errno != EINTR { fatalError("epoll_wait failed: \(RedisSocket.describe(errno: errno))") }
            var wokenUp = false
            for index in 0..<max(0, Int(count)) {
                let event = events[index]
                if event.data.u64 == 0 {
                    var value: UInt64 = 0
                    _ = read(wakeUp, &value, 8)
                    wokenUp = true
                    continue
                }
                guard let (socket, lane) = registry.withLock({ $0[event.data.u64] }) else { continue }
                var keep = true
                if event.events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                    keep = lane.readable(socket, buffer: buffer)
                }
                if keep && event.events & EPOLLOUT.rawValue != 0 {
                    keep = lane.writable(socket)
                }
                if !keep { unregister(socket) }
            }
            // Timeouts: checked when nothing happened for a while, or every 10 ms under load.
            let now = ContinuousClock.now
            if count <= 0 || wokenUp || now - lastTimeoutCheck > .milliseconds(10) {
                lastTimeoutCheck = now
                wait = checkTimeouts(now: now)
            }
        }
    }

    /// Fails the batches that waited longer than their lane's command timeout; returns how
    /// long `epoll_wait` may wait before the next check (-1: nothing is waiting).
    private func checkTimeouts(now: ContinuousClock.Instant) -> Int32 {
        let entries = registry.withLock { Array($0.values) }
        var next: ContinuousClock.Instant?
        var tick: Duration?
        for (socket, lane) in entries {
            switch lane.checkTimeout(socket, now: now) {
            case .close: unregister(socket)
            case .due(let deadline): next = min(next ?? deadline, deadline)
            case .idle(let timeout): tick = min(tick ?? timeout / 2, timeout / 2)
            }
        }
        // A batch written while this thread waits is checked at the next event or tick:
        // within half a command timeout after its own.
        guard let wake = next.map({ $0 - now }) ?? tick else { return -1 }
        let (seconds, attoseconds) = max(.zero, wake).components
        return Int32(clamping: seconds * 1_000 + attoseconds / 1_000_000_000_000_000 + 1)
    }
}

/// Starts a detached thread of its own (not one of Swift's cooperative threads, nor of
/// Dispatch's limited pool) running `body`.
private func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let argument = Unmanaged.passRetained(Box(body)).toOpaque()
    let result = pthread_create(&thread, nil, { argument in
        Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue().body()
        return nil
    }, argument)
    precondition(result == 0, "cannot start the Redis event loop's thread: \(RedisSocket.describe(errno: result))")
    pthread_detach(thread)
}
