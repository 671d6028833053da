import CHiredis
import Strata

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The thread that waits (in `poll`) on every Redis connection of the process (pooled
/// ones, and the invalidation bus's subscriptions), and hands each reply to the task
/// waiting for it. What each connection does is its lane's state machine's decision; this
/// thread delivers the events.
///
/// A caller writes its commands to the socket itself when its connection is idle (a
/// non-blocking write that the socket's buffer takes at once), so the only thread switch
/// of an uncontended call is the one that brings the reply to the waiting task. Callers
/// that come while a batch is out queue behind it, and this thread writes all of them in
/// one go when a batch is answered (auto-pipelining); it writes the rest of a batch that
/// did not fit in the socket's buffer when the socket has room (a socket's `writeArmed`).
/// It sees a dialled connection complete (the socket turns writable), fails a batch
/// whose reply is later than the command timeout and a dial past the connect timeout,
/// sends a subscription's health-check `PING`, and closes sockets: it is the only thread
/// that closes a registered descriptor (after a write under way on another thread ends),
/// so a descriptor number is never reused while another thread may still use it.
///
/// `poll`, not `epoll` or `kqueue`: the same code on Linux and macOS, and with the few
/// connections a process pools (a handful per server or cluster node) the array it
/// rebuilds per wake-up costs nothing measurable.
final class RedisEventLoop: Sendable {
    /// The process's loop, started with the first store.
    static let shared = RedisEventLoop()

    /// Written to when the loop must look again: a socket registered, or one that waits
    /// to be writable.
    private let wakeUp: (read: Int32, write: Int32)
    private let registry = Lock<[UInt64: (socket: RedisSocket, lane: RedisLane)]>([:])
    /// Every open lane, for the deadlines of the requests in its queue (which wait with or
    /// without a socket).
    private let lanes = Lock<[ObjectIdentifier: RedisLane]>([:])

    private init() {
        var ends: [Int32] = [0, 0]
        precondition(pipe(&ends) == 0, "cannot make the event loop's pipe: \(RedisSocket.describe(errno: errno))")
        for end in ends { _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK) }
        wakeUp = (ends[0], ends[1])
        startThread { [self] in run() }
    }

    /// Starts watching `socket` for `lane`, once the lane's machine holds it (so an event
    /// never reaches the lane before it knows the socket).
    func register(_ socket: RedisSocket, for lane: RedisLane) {
        registry.withLock { $0[socket.token] = (socket, lane) }
        wake()
    }

    /// Watches the queue of `lane` for requests past their deadline, until it closes.
    func register(lane: RedisLane) {
        lanes.withLock { $0[ObjectIdentifier(lane)] = lane }
    }

    func unregister(lane: RedisLane) {
        lanes.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(lane)) }
    }

    /// Makes the loop look again (a request queued with no batch out to time out).
    func wake() {
        var byte: UInt8 = 1
        _ = write(wakeUp.write, &byte, 1)  // a full pipe already wakes the loop
    }

    /// `poll` found `socket`'s descriptor not open (`POLLNVAL`): something else in the
    /// process closed it. Its number may name another file already, so it is given up, not
    /// closed, and `lane` fails its batches out (no reply or timeout would come for them
    /// once the socket is not watched) and connects again.
    func dropClosedBehindItsBack(_ socket: RedisSocket, of lane: RedisLane) {
        socket.forget()
        registry.withLock { _ = $0.removeValue(forKey: socket.token) }
        lane.lost(socket)
    }

    private func unregister(_ socket: RedisSocket) {
        registry.withLock { _ = $0.removeValue(forKey: socket.token) }
        socket.close()
    }

    private func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        var lastTimeoutCheck = ContinuousClock.now
        var wait: Int32 = -1
        var descriptors: [pollfd] = []
        var watched: [(socket: RedisSocket, lane: RedisLane)] = []
        while true {
            watched = registry.withLock { Array($0.values) }
            descriptors.removeAll(keepingCapacity: true)
            descriptors.append(pollfd(fd: wakeUp.read, events: Int16(POLLIN), revents: 0))
            for (socket, _) in watched {
                let events = POLLIN | (socket.writeArmed.load(ordering: .relaxed) ? POLLOUT : 0)
                descriptors.append(pollfd(fd: socket.descriptor, events: Int16(events), revents: 0))
            }
            let count = poll(&descriptors, nfds_t(descriptors.count), wait)
            if count < 0 && errno != EINTR { fatalError("poll failed: \(RedisSocket.describe(errno: errno))") }
            var wokenUp = false
            if count > 0 {
                if descriptors[0].revents != 0 {
                    var drained = [UInt8](repeating: 0, count: 64)
                    while read(wakeUp.read, &drained, drained.count) > 0 {}
                    wokenUp = true
                }
                for (index, (socket, lane)) in watched.enumerated() {
                    let events = Int32(descriptors[index + 1].revents)
                    if events == 0 { continue }
                    if events & POLLNVAL != 0 {
                        dropClosedBehindItsBack(socket, of: lane)
                        continue
                    }
                    var keep = true
                    if events & (POLLIN | POLLHUP | POLLERR) != 0 {
                        keep = lane.readable(socket, buffer: buffer)
                    }
                    if keep && events & POLLOUT != 0 {
                        keep = lane.writable(socket)
                    }
                    if !keep { unregister(socket) }
                }
            }
            // Timeouts: checked when nothing happened for a while, or every 10 ms under load.
            let now = ContinuousClock.now
            if count <= 0 || wokenUp || now - lastTimeoutCheck > .milliseconds(10) {
                lastTimeoutCheck = now
                wait = checkTimeouts(now: now)
            }
        }
    }

    /// Fails the batches that waited longer than their lane's command timeout for a reply,
    /// and the queued requests that waited longer than it to be written; returns how long
    /// `poll` may wait before the next check (-1: nothing is registered or queued).
    private func checkTimeouts(now: ContinuousClock.Instant) -> Int32 {
        let entries = registry.withLock { Array($0.values) }
        var next: ContinuousClock.Instant?
        var tick: Duration?
        for lane in lanes.withLock({ Array($0.values) }) {
            if let deadline = lane.expireQueued(now: now) { next = min(next ?? deadline, deadline) }
        }
        for (socket, lane) in entries {
            switch lane.checkTimeout(socket, now: now) {
            case .close: unregister(socket)
            case .due(let deadline): next = min(next ?? deadline, deadline)
            case .idle(let timeout): tick = min(tick ?? timeout / 2, timeout / 2)
            }
        }
        // A batch written while this thread waits is checked at the next event or tick:
        // within half a command timeout after its own. The tick counts even while another
        // batch is due later (a store with a longer timeout must not delay this one's).
        guard let wake = [next.map { $0 - now }, tick].compactMap({ $0 }).min() else { return -1 }
        let (seconds, attoseconds) = max(.zero, wake).components
        return Int32(clamping: seconds * 1_000 + attoseconds / 1_000_000_000_000_000 + 1)
    }
}

/// Starts a detached thread of its own (not one of Swift's cooperative threads, nor of
/// Dispatch's limited pool) running `body`: a Redis event loop or the delivery thread,
/// which the process cannot work without.
func startThread(_ body: @escaping @Sendable () -> Void) {
    do {
        try OwnThread.start(named: "strata-redis", body)
    } catch {
        preconditionFailure("cannot start a Redis thread: \(error)")
    }
}
