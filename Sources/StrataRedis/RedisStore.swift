import Strata
import Synchronization

/// A shared store on a Redis server or cluster, plain or over TLS (``RedisTLS``), with the
/// system's hiredis as the reply parser and its OpenSSL for TLS.
///
/// - Every command is built from arguments (binary-safe): keys and values with spaces,
///   CR/LF, NUL or any Unicode cannot change a command.
/// - Lifetimes are in milliseconds (`SET key value PX n`); an entry's read is `GET` and
///   `PTTL` in one round trip, so the entry's remaining lifetime comes with it (a
///   `TieredStore` copies it into L1); a typed `get` of the store alone is `GET` only,
///   since nothing it returns keeps a lifetime.
/// - `setIfAbsent` is `SET NX PX`; `expire` is `PEXPIRE`; `increment` is one script that
///   sets the lifetime only when it creates the key.
/// - `keys(prefix:)` and `clear(prefix:)` use `SCAN MATCH` with every glob character of
///   the prefix escaped, and `UNLINK` in batches: never `KEYS`.
/// - Leases and records live in Redis, under names of Strata's own that start with the
///   byte 0xFF (`\xFFstrata:lease:`, `\xFFstrata:record:`, and the namespace), which no
///   key can: no listing shows them, `clear` removes no record. A lease is taken with
///   the key's read in one round trip; the leased write is one script; every change of a
///   key deletes its lease in the same round trip, before the change (two pipelined
///   commands, not one atomic step: see `RedisStore+Leases.swift`).
/// - A call still waiting to be written when its task is cancelled is never sent; the
///   waiting is bounded (``Configuration/maxQueuedCommands``, ``Configuration/commandTimeout``).
/// - No call blocks Swift's cooperative threads: a caller writes its commands to an idle
///   pooled connection itself (a non-blocking write) and suspends, and one event-loop
///   thread (`poll`) reads the replies of every connection and resumes the callers.
///   Calls that come while a connection is busy are pipelined in the next batch.
/// - A connection that fails costs the calls in flight on it a `backendUnavailable`
///   error; the store reconnects by itself for later calls.
/// - A call succeeds only on the reply that means its work was done: an error reply
///   (`OOM`, `READONLY`, `NOPERM`, `BUSY`, `MISCONF`…) throws a `StrataError` whose
///   code says what cures it (``RedisServerError/code``) and whose `underlying` is the
///   ``RedisServerError``.
///
/// The initializer waits for its first connection (the connect timeout, then the command
/// timeout for the login and a `PING`; a cluster's for its slot map), so an unreachable
/// server, refused credentials or a refused certificate are reported at start-up. The first store also sets SIGPIPE to be
/// ignored, if the process still has the default (which would end the process when a
/// server goes away mid-write); a handler the application installed is left alone.
///
/// ```swift
/// import StrataRedis
///
/// let redis = try RedisStore(url: "redis://:secret@127.0.0.1:6379/2")
/// try await redis.set("session:1", session, expires: "30min")
/// ```
public final class RedisStore: KeyValueStore {
    /// Its hybrid clock and envelope mark, kept here rather than in a registry that would
    /// hold the store weakly (see `StoreProcessState`).
    package let processState = StoreProcessState()
    /// The endpoint, pool, timeouts and namespace this store was made with.
    public let configuration: Configuration
    /// The pooled connections to one server; empty on a cluster.
    let lanes: [RedisLane]
    /// The slot map and the nodes' connections, on a cluster.
    let cluster: RedisCluster?
    let nextLane = Atomic<Int>(0)
    let closed = Atomic<Bool>(false)
    /// The most names a scan's de-duplication set has held (for the tests: a clear holds none).
    let largestScanSet = Atomic<Int>(0)
    /// Passes of cluster scans made again because slots moved during one (for the tests).
    let rescans = Atomic<Int>(0)
    /// Whether the server refused the bulk read's script (an ACL without `EVALSHA`, a proxy
    /// without scripting): bulk reads then send `GET` and `PTTL` per key.
    let scriptedReadsRefused = Atomic<Bool>(false)
    /// Whether a bulk read's script ran on the server: until then a read sends it whole
    /// (`EVAL`), so the first read is one round trip too; then by its SHA1 (`EVALSHA`).
    let readScriptSent = Atomic<Bool>(false)
    /// Whether the server refused `MULTI` or `EXEC` (an ACL without them, a proxy without
    /// transactions): a bulk read of values then sends `GET` per key.
    let transactionsRefused = Atomic<Bool>(false)
    /// The Redis names of keys, and of Strata's own leases, records and locks.
    let names: RedisKeyNames
    /// The TLS every connection speaks, when the server does (``Configuration/tls``).
    let tls: RedisTLSContext?
    /// The primary behind Sentinel, when ``Configuration/sentinel`` is set.
    let sentinelMonitor: RedisSentinelMonitor?

    /// Connects with a full ``Configuration``; throws `StrataError.Code.backendUnavailable`
    /// naming the server when it cannot be reached (within the connect timeout, then the
    /// command timeout for its login and a `PING`), `accessDenied` when it refuses the
    /// credentials or the client certificate, and `invalidConfiguration` for settings it
    /// cannot use (a TLS file missing or not PEM, say).
    public init(configuration: Configuration) throws {
        var configuration = configuration
        // TLS asked for anywhere (the endpoint, or a `rediss://` seed) is every connection's,
        // with one set of settings: the endpoint's, else the first TLS seed's.
        configuration.tls = configuration.tls ?? configuration.clusterSeeds.lazy.compactMap(\.tls).first
        if let tls = configuration.tls {
            configuration.clusterSeeds = configuration.clusterSeeds.map { seed in
                var seed = seed
                seed.tls = tls
                return seed
            }
        }
        self.names = RedisKeyNames(namespace: configuration.keyNamespace, clustered: !configuration.clusterSeeds.isEmpty)
        let backend = Self.backendName(configuration)
        guard configuration.poolSize >= 1, configuration.scanBatchSize >= 1, configuration.maxQueuedCommands >= 1,
            configuration.maxQueuedBytes >= 1
        else {
            throw StrataError(
                code: .invalidConfiguration, message: "poolSize, scanBatchSize, maxQueuedCommands and maxQueuedBytes must be at least 1",
                backend: backend)
        }
        _ = ignoreBrokenPipes
        if configuration.sentinel != nil {
            try Self.checkSentinel(&configuration, backend: backend)
        } else if configuration.tls != nil, case .unix = configuration.endpoint.address {
            throw StrataError(code: .invalidConfiguration, message: "TLS needs a TCP endpoint, not a unix socket", backend: backend)
        }
        self.configuration = configuration
        self.backendName = Self.backendName(configuration)
        if let settings = configuration.tls {
            do {
                tls = try RedisTLSContext(settings)
            } catch {
                throw StrataError(code: error.code, message: error.message, backend: backend)
            }
        } else {
            tls = nil
        }
        let onChange = configuration.connectionLog(backend: backend)
        /// A failure to connect to `endpoint`, as the error its calls get.
        let connectFailure: @Sendable (RedisEndpoint, any Error) -> any Error = { endpoint, error in
            if let error = error as? StrataError { return error }
            let refusal = (error as? RedisConnectionError)?.refusal
            return StrataError(
                code: refusal?.code ?? (error as? RedisConnectionError)?.code ?? .backendUnavailable,
                message: "cannot connect to \(endpoint): \(error)",
                backend: backend, underlying: refusal ?? error)
        }
        let limits = RedisLane.Limits(
            commandTimeout: configuration.commandTimeout, maxQueuedCommands: configuration.maxQueuedCommands,
            maxQueuedBytes: configuration.maxQueuedBytes, connectTimeout: configuration.connectTimeout)
        let tls = tls
        let makeLane: @Sendable (RedisEndpoint) -> RedisLane = { endpoint in
            RedisLane(
                endpoint: endpoint, tls: endpoint.tls == nil ? nil : tls, limits: limits,
                describeConnectFailure: { connectFailure(endpoint, $0) }, onChange: onChange)
        }
        /// Sends `commands` on a lane of its own, waiting (the initializer's first contact).
        let ask: @Sendable (RedisEndpoint, [[[UInt8]]]) throws -> [RedisReply] = { endpoint, commands in
            let lane = makeLane(endpoint)
            defer { lane.close(abandoningRepliesOut: true) }
            do {
                return try lane.sendWaiting(commands)
            } catch let notSent as RedisNotSent {
                throw notSent.error
            }
        }
        if let sentinel = configuration.sentinel {
            (sentinelMonitor, lanes) = try Self.sentinelPool(
                sentinel, configuration: configuration, backend: backend, tls: tls, limits: limits, ask: ask,
                describeConnectFailure: connectFailure, onChange: onChange)
            cluster = nil
        } else if configuration.clusterSeeds.isEmpty {
            sentinelMonitor = nil
            let endpoint = configuration.endpoint
            lanes = (0..<configuration.poolSize).map { _ in makeLane(endpoint) }
            cluster = nil
            // The first connection is made here, so an unreachable server is found at start-up.
            do {
                // Any answer shows the server is there, but NOAUTH: it needs a password the URL lacks.
                if case .error(let message) = try lanes[0].sendWaiting([[Array("PING".utf8)]])[0], message.hasPrefix("NOAUTH") {
                    throw RedisConnectionError(
                        description: "the server requires a password: \(message)",
                        refusal: RedisServerError(message: message, command: "PING"))
                }
            } catch {
                lanes.forEach { $0.close(abandoningRepliesOut: true) }
                let error = (error as? RedisNotSent)?.error ?? error
                throw connectFailure(endpoint, error)
            }
        } else {
            guard configuration.clusterSeeds.allSatisfy({ $0.database == 0 }) else {
                throw StrataError(code: .invalidConfiguration, message: "a Redis Cluster has only database 0", backend: backend)
            }
            lanes = []
            sentinelMonitor = nil
            do {
                cluster = try RedisCluster(
                    seeds: configuration.clusterSeeds, retryTime: configuration.clusterRetryTime,
                    commandTimeout: configuration.commandTimeout, ask: ask,
                    makeLanes: { [poolSize = configuration.poolSize] endpoint in (0..<poolSize).map { _ in makeLane(endpoint) } })
            } catch let error as StrataError {
                throw error
            } catch {
                throw StrataError(
                    code: .backendUnavailable, message: "cannot read the cluster's slot map: \(error)", backend: backend, underlying: error)
            }
        }
    }

    deinit {
        sentinelMonitor?.stopFollowing()
        allLanes.forEach { $0.close() }
    }

    /// `RedisStore(redis://host:port/db)` (no password); on a cluster,
    /// `RedisStore(cluster redis://seed:7000/0, …)`, made once: every error and decoded read
    /// names it.
    public let backendName: String

    static func backendName(_ configuration: Configuration) -> String {
        if let sentinel = configuration.sentinel {
            return "RedisStore(sentinel \(sentinel.primaryName) via \(sentinel.sentinels.map(\.address.shown).joined(separator: ",")))"
        }
        if configuration.clusterSeeds.isEmpty { return "RedisStore(\(configuration.endpoint))" }
        return "RedisStore(cluster \(configuration.clusterSeeds.map(\.description).joined(separator: ", ")))"
    }

    /// The configured default lifetime.
    public var defaultExpiry: Expiry? { configuration.defaultExpiry }

    /// How the store has used its connections.
    ///
    /// ```swift
    /// let stats = redis.statistics
    /// print(Double(stats.commands) / Double(stats.roundTrips), "commands per round trip")
    /// ```
    public struct Statistics: Sendable, Hashable {
        /// Batches written to the server, each one round trip.
        public var roundTrips: Int
        /// Commands sent in those batches (a typed `get` is one, `GET`; an entry's read with its
        /// lifetime is two, `GET` and `PTTL`).
        public var commands: Int
    }

    /// Round trips and commands since the store was made.
    public var statistics: Statistics {
        Statistics(
            roundTrips: allLanes.reduce(0) { $0 + $1.roundTrips },
            commands: allLanes.reduce(0) { $0 + $1.commandsSent })
    }

    /// Every pooled connection, of the server or of every cluster node.
    var allLanes: [RedisLane] {
        lanes + (cluster?.allLanes ?? [])
    }

    // MARK: Reads

    /// `GET` and `PTTL` in one round trip: the value and its remaining lifetime.
    public func entry(forKey key: String) async throws -> StoredEntry? {
        let name = redisKey(key)
        let replies = try await send(key, [command("GET", name), command("PTTL", name)])
        return try entry(key, value: replies[0], lifetime: replies[1], now: clock.now())
    }

    /// The entry that a `GET` and a `PTTL` reply describe; `nil` when the key is gone.
    func entry(_ key: String, value: RedisReply, lifetime: RedisReply, now: Timestamp) throws -> StoredEntry? {
        switch (value, lifetime) {
        case (.null, _), (_, .integer(-2)):
            return nil
        case (.bulk(let bytes), .integer(let remaining)):
            return StoredEntry(bytes: bytes, expiresAt: remaining < 0 ? nil : now.adding(milliseconds: remaining))
        case (let value, let lifetime):
            throw unexpected(key, "GET answered \(value.typeName), PTTL \(lifetime.typeName)")
        }
    }

    /// Reads the entry as a plain `get` does, its value without its lifetime (`GET`: an
    /// entry written with options counts within its lifetime only, which `EXISTS` cannot
    /// tell); a key holding another Redis type counts as present.
    public func containsEntry(forKey key: String) async throws -> Bool {
        try await containsReadableEntry(forKey: key)
    }

    /// `SCAN MATCH <escaped prefix>*`, in batches; sorted by bytes.
    public func storedKeys(prefix: String) async throws -> [String] {
        var keys: [String] = []
        try await scan(prefix: prefix) { batch in
            for name in batch {
                if let key = String(validating: name.dropFirst(names.namespace.count), as: UTF8.self) { keys.append(key) }
            }
        }
        return keys.sorted(by: KeyRules.byteOrder)
    }

    /// `SCAN MATCH <escaped prefix>*`, and for each page one pipelined batch of `GET` and
    /// `PTTL` per key, sent while the scan goes on (on another pooled connection); sorted by
    /// bytes. A key that expired or was removed between the two is left out.
    public func storedEntries(prefix: String) async throws -> [(key: String, entry: StoredEntry)] {
        try await withThrowingTaskGroup(of: [(key: String, entry: StoredEntry)].self) { group in
            try await scan(prefix: prefix) { batch in
                let named = batch.compactMap { name in
                    String(validating: name.dropFirst(names.namespace.count), as: UTF8.self).map { (name, $0) }
                }
                if !named.isEmpty { group.addTask { try await self.entries(named) } }
            }
            var entries: [(key: String, entry: StoredEntry)] = []
            for try await page in group { entries += page }
            return entries.sorted { KeyRules.byteOrder($0.key, $1.key) }
        }
    }

    /// One pipelined batch of `GET` and `PTTL` for each of `named` (Redis name, key). Not
    /// `MGET`: it answers nil for a key holding another Redis type, which must be an error.
    func entries(_ named: [([UInt8], String)]) async throws -> [(key: String, entry: StoredEntry)] {
        var commands: [[[UInt8]]] = []
        commands.reserveCapacity(named.count * 2)
        for (name, _) in named {
            commands.append(command("GET", name))
            commands.append(command("PTTL", name))
        }
        if cluster != nil {
            // Keys of one slot share a node; each slot's keys are a batch of their own.
            let groups = Dictionary(grouping: named) { RedisClusterSlot.of($0.0) }.values
            if groups.count > 1 {
                return try await withThrowingTaskGroup(of: [(key: String, entry: StoredEntry)].self) { group in
                    for slotNamed in groups { group.addTask { try await self.entries(Array(slotNamed)) } }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
            }
        }
        let replies = try await send(commands, routing: named.first?.0) { named[$0 / 2].1 }
        let now = clock.now()
        var entries: [(key: String, entry: StoredEntry)] = []
        entries.reserveCapacity(named.count)
        for (index, (_, key)) in named.enumerated() {
            if let entry = try entry(key, value: replies[2 * index], lifetime: replies[2 * index + 1], now: now) {
                entries.append((key, entry))
            }
        }
        return entries
    }

    /// Redis expires keys itself: nothing to do.
    @discardableResult
    public func sweepExpired() async throws -> Int {
        try checkOpen()
        return 0
    }

    /// Closes the connections; later calls throw `StrataError.Code.closed`.
    public func close() async throws {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        sentinelMonitor?.stopFollowing()
        lanes.forEach { $0.close() }
        cluster?.close()  // and a map refresh under way, which would open lanes to new nodes
    }
}

extension RedisStore: KeepsProcessState {}
