import Strata
import Testing

@testable import StrataRedis

/// The rules of one pooled connection, event by event, without a socket: the machine's
/// state after each event and the actions it asks for.
@Suite("Redis connection state machine")
struct RedisLaneStateMachineTests {
    final class Socket {}
    typealias Machine = RedisLaneStateMachine<Socket, String>

    let now = ContinuousClock.now

    func machine(commandTimeout: Duration = .seconds(1), maxQueuedCommands: Int = .max) -> (Machine, Socket) {
        var machine = Machine(limits: RedisLane.Limits(commandTimeout: commandTimeout, maxQueuedCommands: maxQueuedCommands))
        let socket = Socket()
        machine.start(with: socket)
        return (machine, socket)
    }

    func request(_ name: String, id: UInt64, expected: Int = 1) -> Machine.Request {
        Machine.Request(caller: name, expected: expected, id: id)
    }

    /// Enqueues `name` with the bytes of its name.
    func enqueue(_ name: String, id: UInt64, expected: Int = 1, _ machine: inout Machine) -> Machine.Actions {
        machine.enqueue(request(name, id: id, expected: expected), bytes: Array(name.utf8), now: now, isCancelled: false)
    }

    func names(_ requests: [Machine.Request]) -> [String] { requests.compactMap(\.caller) }
    func failedNames(_ actions: Machine.Actions) -> [String] { actions.failed.flatMap { names($0.requests) } }
    func written(_ actions: Machine.Actions) -> String? { actions.write.map { String(decoding: $0.bytes[$0.offset...], as: UTF8.self) } }

    @Test(
        "a caller's write that fails reports the loss once, fails its batch, keeps the queue for a new connection, which reports regained")
    func writeFailureIsALoss() {
        var (machine, socket) = machine()
        #expect(written(enqueue("a", id: 1, &machine)) == "a")
        #expect(written(enqueue("b", id: 2, &machine)) == nil, "one writer at a time: b joins the next batch")

        let failure = machine.wrote(socket, .failure(RedisConnectionError(description: "EPIPE")), now: now)
        #expect(failure.lost != nil, "the loss is reported whoever finds it")
        #expect(failedNames(failure) == ["a"])
        #expect(failure.retired === socket)
        #expect(failure.connect, "b waits for a new connection")
        #expect(machine.socket == nil && machine.isDown)

        // The retired socket's end, seen later by the event loop, is no second loss.
        let late = machine.read(socket, replies: [], failure: RedisConnectionError(description: "closed"), now: now)
        #expect(late.lost == nil && late.failed.isEmpty && late.retired == nil)

        #expect(written(enqueue("c", id: 3, &machine)) == nil)
        let second = Socket()
        #expect(machine.dialed(second, replacing: nil, otherAddresses: [], deadline: now + .seconds(1)).watchWritable?.on == true)
        #expect(written(enqueue("d", id: 4, &machine)) == nil, "not connected yet: d waits")
        let connected = machine.tcpConnected(second, error: nil, login: [], loginCommands: [], now: now)
        #expect(connected.regained)
        #expect(connected.write?.socket === second)
        #expect(written(connected) == "bcd", "what was not written goes out, in order, on the new connection")
    }

    @Test("a read failure and a timeout are losses too, reported once until a connection works")
    func readFailureAndTimeout() {
        var (machine, socket) = machine()
        _ = enqueue("a", id: 1, &machine)
        _ = machine.wrote(socket, .success(1), now: now)
        let (check, timedOut) = machine.checkTimeout(socket, now: now + .seconds(2))
        guard case .close = check else { Issue.record("the batch out timed out: the socket closes"); return }
        #expect(timedOut.lost != nil && failedNames(timedOut) == ["a"] && timedOut.retired === socket)

        _ = enqueue("b", id: 2, &machine)
        let refused = machine.dialFailed(RedisConnectionError(description: "refused"), replacing: nil)
        #expect(refused.lost == nil, "still down: no second report")
        #expect(failedNames(refused) == ["b"])
        #expect(refused.failed.first?.error is RedisNotSent, "never written: a cluster may send it elsewhere")
    }

    @Test("at most two batches out; the third waits and goes out when a batch is answered")
    func twoBatchesOut() {
        var (machine, socket) = machine()
        #expect(written(enqueue("a", id: 1, &machine)) == "a")
        #expect(machine.wrote(socket, .success(1), now: now).write == nil)
        #expect(written(enqueue("b", id: 2, &machine)) == "b")
        #expect(machine.wrote(socket, .success(1), now: now).write == nil)
        #expect(written(enqueue("c", id: 3, &machine)) == nil)
        #expect(written(enqueue("d", id: 4, &machine)) == nil)

        let answered = machine.read(socket, replies: [.status("OK")], failure: nil, now: now)
        #expect(names(answered.completed) == ["a"])
        #expect(written(answered) == "cd", "the waiting requests go out together")
        #expect(machine.roundTrips == 3 && machine.commandsSent == 4)
    }

    @Test("a batch the socket takes in parts: the rest goes out when it has room, and replies wait for all of a request")
    func partialWrite() {
        var (machine, socket) = machine()
        _ = enqueue("abcdef", id: 1, expected: 2, &machine)
        let part = machine.wrote(socket, .success(2), now: now)
        #expect(part.watchWritable?.on == true && part.write == nil)
        #expect(written(enqueue("x", id: 2, &machine)) == nil, "the batch is not all written: x waits")

        let room = machine.writable(socket)
        #expect(room.watchWritable?.on == false)
        #expect(written(room) == "cdef")
        #expect(machine.writable(socket).write == nil, "one writer at a time")
        #expect(written(machine.wrote(socket, .success(6), now: now)) == "x")

        #expect(machine.read(socket, replies: [.status("OK")], failure: nil, now: now).completed.isEmpty)
        #expect(names(machine.read(socket, replies: [.status("OK")], failure: nil, now: now).completed) == ["abcdef"])
    }

    @Test("a reply nobody asked for fails the connection")
    func unaskedReply() {
        var (machine, socket) = machine()
        let actions = machine.read(socket, replies: [.status("OK")], failure: nil, now: now)
        #expect(actions.lost != nil && actions.retired === socket)
    }

    @Test("a queued request can be cancelled or time out, and is then never written; a written one cannot")
    func queuedRequestsLeave() {
        var (machine, socket) = machine()
        _ = enqueue("a", id: 1, &machine)
        _ = enqueue("b", id: 2, &machine)
        _ = enqueue("c", id: 3, &machine)
        #expect(machine.cancel(1).failed.isEmpty, "a is written")
        let cancelled = machine.cancel(2)
        #expect(failedNames(cancelled) == ["b"] && cancelled.failed.first?.error is CancellationError)

        let (expired, nextDeadline) = machine.expireQueued(now: now + .seconds(2))
        #expect(failedNames(expired) == ["c"] && nextDeadline == nil)
        #expect(expired.lost == nil, "a connection is up: a busy one, not a lost one")
        #expect(machine.wrote(socket, .success(1), now: now).write == nil, "nothing left to write")

        let cancelledTask = machine.enqueue(request("d", id: 4), bytes: [1], now: now, isCancelled: true)
        #expect(failedNames(cancelledTask) == ["d"])
    }

    @Test("a full queue refuses at once; a request always goes when none waits")
    func fullQueue() {
        var (machine, _) = machine(maxQueuedCommands: 1)
        _ = enqueue("a", id: 1, expected: 5, &machine)
        _ = enqueue("b", id: 2, expected: 5, &machine)  // over the bound, but none waits
        let refused = enqueue("c", id: 3, &machine)
        #expect(failedNames(refused) == ["c"] && refused.failed.first?.error is RedisUnsent)
        #expect(machine.queuedCommands == 5)
    }

    @Test("with no connection for a whole command timeout, the loss is reported once")
    func downForATimeout() {
        var machine = Machine(limits: RedisLane.Limits(commandTimeout: .seconds(1)))
        let first = enqueue("a", id: 1, &machine)
        #expect(first.connect && first.wakeLoop)
        let (expired, _) = machine.expireQueued(now: now + .seconds(2))
        #expect(expired.lost != nil && failedNames(expired) == ["a"])
        _ = enqueue("b", id: 2, &machine)
        #expect(machine.expireQueued(now: now + .seconds(4)).0.lost == nil)
    }

    @Test("close fails what waits, retires the connection once the batch out is answered, and adopts no later connection")
    func close() {
        var (machine, socket) = machine()
        _ = enqueue("a", id: 1, &machine)
        _ = machine.wrote(socket, .success(1), now: now)
        _ = enqueue("b", id: 2, &machine)
        _ = enqueue("c", id: 3, &machine)
        let closing = machine.close()
        #expect(failedNames(closing) == ["c"] && closing.failed.first?.error is RedisLaneClosed)
        #expect(closing.retired == nil, "b is out: its caller waits for the reply")

        let answered = machine.read(socket, replies: [.status("OK")], failure: nil, now: now)
        #expect(names(answered.completed) == ["a"])
        #expect(answered.retired == nil)
        #expect(machine.wrote(socket, .success(1), now: now).retired == nil)
        let last = machine.read(socket, replies: [.status("OK")], failure: nil, now: now)
        #expect(names(last.completed) == ["b"] && last.retired === socket && last.lost == nil)

        #expect(failedNames(enqueue("d", id: 4, &machine)) == ["d"])
        _ = machine.dialed(Socket(), replacing: nil, otherAddresses: [], deadline: now + .seconds(1))
        #expect(machine.socket == nil, "a connection made after close is not adopted")
    }

    @Test("a new connection logs in before the queue goes out on it")
    func loginFirst() {
        var machine = Machine(limits: RedisLane.Limits(commandTimeout: .seconds(1)))
        #expect(enqueue("a", id: 1, &machine).connect)
        let socket = Socket()
        _ = machine.dialed(socket, replacing: nil, otherAddresses: [], deadline: now + .seconds(1))
        let login = machine.tcpConnected(socket, error: nil, login: Array("AUTH".utf8), loginCommands: ["AUTH"], now: now)
        #expect(written(login) == "AUTH")
        #expect(machine.wrote(socket, .success(4), now: now).write == nil, "the queue waits for the login's reply")
        #expect(written(enqueue("b", id: 2, &machine)) == nil)
        let ready = machine.read(socket, replies: [.status("OK")], failure: nil, now: now)
        #expect(ready.completed.isEmpty, "the login's reply is the lane's own")
        #expect(written(ready) == "ab")
        #expect(machine.isReady)
    }

    @Test("a refused login fails the queue as never written, names the command, and is a loss")
    func refusedLogin() {
        var machine = Machine(limits: RedisLane.Limits(commandTimeout: .seconds(1)))
        _ = enqueue("a", id: 1, &machine)
        let socket = Socket()
        _ = machine.dialed(socket, replacing: nil, otherAddresses: [], deadline: now + .seconds(1))
        _ = machine.tcpConnected(socket, error: nil, login: Array("AUTHSELECT".utf8), loginCommands: ["AUTH", "SELECT"], now: now)
        _ = machine.wrote(socket, .success(10), now: now)
        let refused = machine.read(socket, replies: [.status("OK"), .error("ERR DB index is out of range")], failure: nil, now: now)
        #expect(refused.lost != nil && refused.retired === socket && failedNames(refused) == ["a"])
        let error = (refused.failed.first?.error as? RedisNotSent)?.error as? RedisConnectionError
        #expect(error?.refusal?.command == "SELECT")
        #expect(!machine.connecting && machine.socket == nil)
    }

    @Test("a dialled socket that does not connect within the connect timeout fails the queue; another address replaces a refused one")
    func dialling() {
        var machine = Machine(limits: RedisLane.Limits(commandTimeout: .seconds(5)))
        _ = enqueue("a", id: 1, &machine)
        let first = Socket()
        let other = RedisDialer.Address(family: 0, bytes: [])
        _ = machine.dialed(first, replacing: nil, otherAddresses: [other], deadline: now + .seconds(1))
        #expect(machine.otherAddresses.count == 1)
        let (_, silent) = machine.checkTimeout(first, now: now + .seconds(2))
        #expect(
            silent.redial?.socket === first && silent.redial?.addresses.count == 1 && silent.failed.isEmpty,
            "an address that does not answer in time gives way to the next")
        let second = Socket()
        let redial = machine.dialed(second, replacing: first, otherAddresses: [], deadline: now + .seconds(1))
        #expect(redial.retired === first && machine.socket === second && redial.failed.isEmpty)

        let (pending, _) = machine.checkTimeout(second, now: now + .milliseconds(500))
        guard case .due = pending else { Issue.record("the connect deadline is not due yet"); return }
        let (check, timedOut) = machine.checkTimeout(second, now: now + .seconds(2))
        guard case .close = check else { Issue.record("past the connect timeout the socket closes"); return }
        #expect(failedNames(timedOut) == ["a"] && timedOut.failed.first?.error is RedisNotSent && timedOut.lost != nil)
    }

    @Test("a subscribed connection: pushed messages answer no request and come out in order, between replies")
    func pushes() {
        var machine = Machine(limits: RedisLane.Limits(commandTimeout: .seconds(1)), receivesPushes: true)
        let socket = Socket()
        machine.start(with: socket)
        _ = enqueue("subscribe", id: 1, &machine)
        _ = machine.wrote(socket, .success(9), now: now)
        func message(_ text: String) -> RedisReply {
            .array([.bulk(Array("message".utf8)), .bulk(Array("c".utf8)), .bulk(Array(text.utf8))])
        }
        let confirmation = RedisReply.array([.bulk(Array("subscribe".utf8)), .bulk(Array("c".utf8)), .integer(1)])
        let read = machine.read(socket, replies: [confirmation, message("1"), message("2")], failure: nil, now: now)
        #expect(names(read.completed) == ["subscribe"])
        #expect(read.pushed == [message("1"), message("2")])
        #expect(read.lost == nil, "messages with no request out are no failure")
    }

    @Test("with a health check, a connection silent for the interval is sent PING by the lane itself; no reply in time is a loss")
    func healthCheck() {
        var machine = Machine(
            limits: RedisLane.Limits(
                commandTimeout: .seconds(30), healthCheckInterval: .milliseconds(100), healthCheckTimeout: .milliseconds(200)))
        let socket = Socket()
        machine.start(with: socket)
        let (quiet, _) = machine.checkTimeout(socket, now: now - .seconds(10))
        guard case .due = quiet else { Issue.record("silent for less than the interval: nothing to send yet"); return }
        let (ping, pinging) = machine.checkTimeout(socket, now: now + .seconds(1))
        guard case .due = ping else { Issue.record("the PING's reply is due"); return }
        #expect(written(pinging) == "*1\r\n$4\r\nPING\r\n")
        _ = machine.wrote(socket, .success(14), now: now + .seconds(1))
        let answered = machine.read(
            socket, replies: [.array([.bulk(Array("pong".utf8)), .bulk([])])], failure: nil, now: now + .seconds(1))
        #expect(answered.completed.isEmpty && answered.lost == nil, "the reply is the lane's own")

        _ = machine.checkTimeout(socket, now: now + .seconds(2))  // the next PING
        let (verdict, lost) = machine.checkTimeout(socket, now: now + .seconds(3))
        guard case .close = verdict else { Issue.record("no reply within the timeout: the connection is lost"); return }
        #expect(lost.lost != nil && lost.retired === socket)
    }

    /// A machine whose connection was lost with `b` queued: it asked for a new connection.
    func lostWithQueue() -> Machine {
        var (machine, socket) = machine()
        _ = enqueue("a", id: 1, &machine)
        _ = enqueue("b", id: 2, &machine)
        let failure = machine.wrote(socket, .failure(RedisConnectionError(description: "EPIPE")), now: now)
        #expect(failure.connect)
        return machine
    }

    @Test("a connection being made when the server moves is given up and made again: the queue is kept, not failed")
    func abandonedWhileConnecting() {
        var machine = lostWithQueue()
        let old = Socket()
        _ = machine.dialed(old, replacing: nil, otherAddresses: [], deadline: now + .seconds(1))
        let abandoned = machine.abandonConnection(RedisConnectionError(description: "moved"))
        #expect(abandoned.retired === old)
        #expect(abandoned.failed.isEmpty, "nothing was written on it")
        #expect(abandoned.connect, "b waits for a connection to where the lane points now")
        #expect(machine.socket == nil)
        let new = Socket()
        _ = machine.dialed(new, replacing: nil, otherAddresses: [], deadline: now + .seconds(1))
        let connected = machine.tcpConnected(new, error: nil, login: [], loginCommands: [], now: now)
        #expect(written(connected) == "b")
        #expect(connected.regained)
    }

    @Test("a connection whose name was being resolved when the server moves is dropped once made, without a regained, and made again")
    func abandonedWhileResolving() {
        var machine = lostWithQueue()
        let pending = machine.abandonConnection(RedisConnectionError(description: "moved"))
        #expect(pending.retired == nil && pending.failed.isEmpty && !pending.connect, "no socket yet: remembered")
        let old = Socket()
        _ = machine.dialed(old, replacing: nil, otherAddresses: [], deadline: now + .seconds(1))
        let made = machine.tcpConnected(old, error: nil, login: [], loginCommands: [], now: now)
        #expect(made.retired === old, "dropped as soon as it was made")
        #expect(!made.regained, "the lane is still down")
        #expect(made.write == nil && made.failed.isEmpty && made.connect)
        let new = Socket()
        _ = machine.dialed(new, replacing: nil, otherAddresses: [], deadline: now + .seconds(1))
        let connected = machine.tcpConnected(new, error: nil, login: [], loginCommands: [], now: now)
        #expect(written(connected) == "b" && connected.regained)
    }
}
