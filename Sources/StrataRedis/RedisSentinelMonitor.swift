import Strata
import Synchronization

/// The primary behind Sentinel, for one store: where it is (``target``, which every lane to
/// the primary connects to), how it is found, and who learns when it moves.
///
/// - **Found** by asking the sentinels in turn for the primary's address
///   (`SENTINEL get-master-addr-by-name`) and checking the answer with `ROLE` (a sentinel
///   that has not yet seen a failover may name a demoted primary). A sentinel that answered
///   is asked first next time.
/// - **Followed** by a subscription on every sentinel (tasks of the store's, started with
///   it and stopped by `close()`) to `+switch-master` and to the start of a promotion
///   (only the sentinel leading a failover tells of it), each made again when it is lost,
///   with a look-up after each subscription for a move it missed. A connection that finds
///   a demoted primary (`READONLY`) or cannot reach it asks for a look-up too.
/// - **Moved**: ``target`` changes first, then every follower (the pooled lanes, a bus's
///   subscription) drops its connection, so what it sends next goes to the new primary.
///   What was out on the old connection fails with `backendUnavailable` (it may have run).
final class RedisSentinelMonitor: Sendable {
    let sentinel: RedisSentinel
    let target: RedisTarget
    let backend: String
    /// A connection to a sentinel (its limits, TLS and logging are the store's).
    let makeLane:
        @Sendable (RedisEndpoint, (@Sendable (RedisLane.ConnectionChange) -> Void)?, (@Sendable (RedisReply) -> Void)?) -> RedisLane
    /// Sends commands on a lane of their own, waiting (never on a cooperative thread).
    private let ask: @Sendable (RedisEndpoint, [[[UInt8]]]) throws -> [RedisReply]
    private let followers = Lock<[UInt64: @Sendable (RedisEndpoint) -> Void]>([:])
    private let nextFollower = Atomic<UInt64>(0)
    /// The sentinel to ask first: the last one that answered.
    private let firstSentinel = Atomic<Int>(0)
    /// One look-up at a time; callers that come while one runs share it.
    private let lookingUp = Lock<Task<RedisEndpoint, any Error>?>(nil)
    private let lastLookUp = Lock<ContinuousClock.Instant?>(nil)
    let subscription = Lock<Task<Void, Never>?>(nil)
    /// Moves so far, and until when a move to a promoted replica holds against look-ups.
    private let moves = Lock<(generation: UInt64, pinnedUntil: ContinuousClock.Instant?)>((0, nil))
    /// Set by ``stopFollowing()``: no look-up, promotion watch or move after it.
    let stopped = Atomic<Bool>(false)
    /// The monitor's short tasks (a look-up a lost connection asked for, a promotion being
    /// watched), each removed when done; ``stopFollowing()`` cancels those still running.
    let chores = Lock<(next: UInt64, running: [UInt64: Task<Void, Never>])>((0, [:]))

    /// Runs `body` as one of ``chores``, unless the monitor was stopped.
    func own(_ body: @escaping @Sendable () async -> Void) {
        chores.withLock { state in
            guard !stopped.load(ordering: .relaxed) else { return }
            let id = state.next
            state.next += 1
            state.running[id] = Task { [self] in
                await body()
                _ = chores.withLock { $0.running.removeValue(forKey: id) }
            }
        }
    }

    /// What moved the store (see ``moved(to:by:)``): a look-up, begun after `generation`
    /// moves; a replica seen promoted; `+switch-master`.
    enum MoveSource {
        case lookUp(generation: UInt64)
        case promotion, switchMaster
    }

    /// Finds the primary now (the store's initializer waits for it: an unreachable set of
    /// sentinels, or a name none knows, is reported at start-up).
    init(
        sentinel: RedisSentinel, primary: RedisEndpoint, backend: String,
        ask: @escaping @Sendable (RedisEndpoint, [[[UInt8]]]) throws -> [RedisReply],
        makeLane:
            @escaping @Sendable (RedisEndpoint, (@Sendable (RedisLane.ConnectionChange) -> Void)?, (@Sendable (RedisReply) -> Void)?) ->
            RedisLane
    ) throws {
        self.sentinel = sentinel
        self.backend = backend
        self.ask = ask
        self.makeLane = makeLane
        target = RedisTarget(primary)
        target.endpoint = try find()
    }

    // MARK: Following

    /// Calls `follower` with the new primary each time it moves, until the returned id is
    /// passed to ``unfollow(_:)``.
    func follow(_ follower: @escaping @Sendable (RedisEndpoint) -> Void) -> UInt64 {
        let id = nextFollower.add(1, ordering: .relaxed).oldValue
        followers.withLock { $0[id] = follower }
        return id
    }

    func unfollow(_ id: UInt64) {
        _ = followers.withLock { $0.removeValue(forKey: id) }
    }

    /// Points ``target`` at `primary` and tells every follower, when it is a move. A move
    /// to a replica seen promoted holds against look-ups until `+switch-master` or 10 s:
    /// until then the sentinels still name the old primary, which still answers as one, and
    /// a look-up would move the store back to it. A look-up's result is dropped when any
    /// move happened since it began (it may have asked a sentinel that had not yet heard).
    func moved(to primary: RedisEndpoint, by source: MoveSource) {
        guard !stopped.load(ordering: .relaxed) else { return }
        let now = ContinuousClock.now
        let moved = moves.withLock { state -> Bool in
            switch source {
            case .lookUp(let generation):
                guard generation == state.generation, state.pinnedUntil.map({ now >= $0 }) ?? true else { return false }
            case .promotion: state.pinnedUntil = now + .seconds(10)
            case .switchMaster: state.pinnedUntil = nil
            }
            let moved = target.update { current in
                guard current.address != primary.address else { return false }
                current = primary
                return true
            }
            if moved { state.generation += 1 }
            return moved
        }
        guard moved else { return }
        for follower in followers.withLock({ Array($0.values) }) { follower(primary) }
    }

    /// The error a follower's connection is dropped with at a move (not a loss that calls
    /// for a look-up).
    struct Moved: Error, CustomStringConvertible {
        let primary: RedisEndpoint
        var description: String { "the primary moved to \(primary.address.shown) (Sentinel)" }
    }

    /// A connection found the primary demoted or unreachable: looks it up again (at most
    /// twice a second), in the background. A connection dropped by a move is not suspect.
    func suspect(_ loss: any Error) {
        guard !(loss is Moved) else { return }
        let due = lastLookUp.withLock { last in
            guard last.map({ .now - $0 > .milliseconds(500) }) ?? true else { return false }
            last = .now
            return true
        }
        if due { own { [self] in _ = try? await lookUp() } }
    }

    /// Looks the primary up (sharing a look-up under way) and moves to it; its endpoint.
    /// With a `deadline`, waits no longer (the look-up goes on).
    @discardableResult
    func lookUp(before deadline: ContinuousClock.Instant? = nil) async throws -> RedisEndpoint {
        let task = lookingUp.withLock { running -> Task<RedisEndpoint, any Error> in
            if let running { return running }
            let generation = moves.withLock { $0.generation }
            let task = Task<RedisEndpoint, any Error> { [self] in
                defer { lookingUp.withLock { $0 = nil } }
                // The look-up waits on sockets (a frozen sentinel, up to the connect timeout
                // each): on a thread of its own, never a cooperative one, nor Dispatch's
                // shared pool, whose threads run the process's tasks on Linux (`OwnThread`).
                let found = try await OwnThread.run(named: "strata-sentinel") { [self] in try find() }
                moved(to: found, by: .lookUp(generation: generation))
                return found
            }
            running = task
            return task
        }
        guard let deadline else { return try await task.value }
        return try await RedisDeadline.value(of: task, before: deadline)
    }

    // MARK: Finding the primary

    /// Asks each sentinel in turn, from the last that answered, for the primary, and checks
    /// it with `ROLE`; the first confirmed primary.
    private func find() throws -> RedisEndpoint {
        var reasons: [String] = []
        var unknownName = 0
        var answered = 0
        var loginRefused: StrataError?
        let count = sentinel.sentinels.count
        let first = firstSentinel.load(ordering: .relaxed)
        for offset in 0..<count {
            let index = (first + offset) % count
            let asked = sentinel.sentinels[index]
            let reply: RedisReply
            do {
                reply = try ask(asked, [Self.command("SENTINEL", "get-master-addr-by-name", sentinel.primaryName)])[0]
            } catch {
                if let refusal = (error as? RedisConnectionError)?.refusal ?? (error as? StrataError)?.underlying as? RedisServerError,
                    refusal.code == .accessDenied
                {
                    // Another sentinel may still answer (a password being rotated): said if none does.
                    loginRefused = StrataError(
                        code: .accessDenied, message: "the sentinel \(asked.address.shown) refused the login: \(refusal.message)",
                        backend: backend, underlying: refusal)
                }
                reasons.append("\(asked.address.shown): \(error)")
                continue
            }
            answered += 1
            guard case .array(let parts) = reply, parts.count == 2, case .bulk(let host) = parts[0], case .bulk(let portText) = parts[1],
                let port = Int(String(decoding: portText, as: UTF8.self))
            else {
                if case .null = reply { unknownName += 1 }
                reasons.append("\(asked.address.shown): \(reply.errorMessage ?? "no primary named \(sentinel.primaryName)")")
                continue
            }
            var primary = target.endpoint
            primary.address = .tcp(host: String(decoding: host, as: UTF8.self), port: port)
            do {
                let role = try ask(primary, [Self.command("ROLE")])[0]
                if let message = role.errorMessage, message.hasPrefix("NOAUTH") || message.hasPrefix("NOPERM") {
                    throw StrataError(
                        code: .accessDenied, message: "the primary \(primary.address.shown) refused ROLE: \(message)", backend: backend)
                }
                guard case .array(let fields) = role, case .bulk(let name)? = fields.first, name == Array("master".utf8) else {
                    reasons.append("\(asked.address.shown) named \(primary.address.shown), which is not a primary (ROLE: \(role.roleName))")
                    continue
                }
            } catch let error as StrataError where error.code == .accessDenied {
                throw error
            } catch let error as RedisConnectionError where error.refusal?.code == .accessDenied {
                throw StrataError(
                    code: .accessDenied, message: "the primary \(primary.address.shown) refused the login: \(error)", backend: backend,
                    underlying: error.refusal)
            } catch {
                reasons.append("\(asked.address.shown) named \(primary.address.shown), which did not answer ROLE: \(error)")
                continue
            }
            firstSentinel.store(index, ordering: .relaxed)
            return primary
        }
        if let loginRefused, answered == 0 { throw loginRefused }
        // Every sentinel that answered knows no such name: a configuration to fix, not an outage.
        let code: StrataError.Code = answered > 0 && unknownName == answered ? .invalidConfiguration : .backendUnavailable
        throw StrataError(
            code: code,
            message: "no sentinel gave a working primary named \(sentinel.primaryName): "
                + (count == 0 ? "no sentinels configured" : reasons.joined(separator: "; ")),
            backend: backend)
    }

    static func command(_ words: String...) -> [[UInt8]] { words.map { Array($0.utf8) } }
}

extension RedisEndpoint.Address {
    /// `host:port`, or the socket's path.
    var shown: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): path
        }
    }
}

extension RedisReply {
    /// `ROLE`'s first field, for a message.
    var roleName: String {
        if case .array(let fields) = self, case .bulk(let name)? = fields.first { return String(decoding: name, as: UTF8.self) }
        return errorMessage ?? typeName
    }
}
