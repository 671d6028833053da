import Strata

#if Logging
public import Logging
#endif

extension RedisStore {
    /// Where a ``RedisStore`` connects and how it uses the server.
    ///
    /// ```swift
    /// var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: "redis://127.0.0.1:6379"))
    /// configuration.keyNamespace = "myapp:"
    /// configuration.poolSize = 8
    /// let redis = try RedisStore(configuration: configuration)
    /// ```
    public struct Configuration: Sendable {
        /// The server, credentials and database.
        public var endpoint: RedisEndpoint
        /// TLS for every connection the store opens (the endpoint's: set by a `rediss://`
        /// URL, or here); `nil`: plain TCP. On a cluster it applies to every node (when it is
        /// `nil`, the first `rediss://` seed's settings do).
        ///
        /// ```swift
        /// configuration.tls = RedisTLS(trust: .certificates(path: "/etc/ssl/redis-ca.pem"))
        /// ```
        public var tls: RedisTLS? {
            get { endpoint.tls }
            set { endpoint.tls = newValue }
        }
        /// How long connecting may take before the store gives up (`backendUnavailable`): each
        /// address of the server, with the TLS handshake.
        public var connectTimeout: Duration
        /// How long a call may wait for its commands to be written (while its connection is
        /// busy or being made again), and how long a pipelined batch may then wait for its
        /// next reply. A call not written in time throws `backendUnavailable` and is never
        /// sent; a batch without a reply in time makes its calls throw `backendUnavailable`
        /// (they may have run) and the connection is replaced.
        public var commandTimeout: Duration
        /// Pooled connections. Calls take them in turn, and concurrent calls are pipelined
        /// on each; more than one keeps a slow command (a large value, a long script)
        /// from holding up every other call.
        public var poolSize: Int
        /// A prefix added to every key in Redis, so several applications can share a
        /// database; `keys()` and `clear()` see only this namespace.
        public var keyNamespace: String
        /// The lifetime of entries written with `expires: nil`; `nil`: they never expire.
        public var defaultExpiry: Expiry?
        /// Keys asked for (`COUNT`) per `SCAN` step, and removed per `UNLINK`.
        public var scanBatchSize: Int
        /// How many commands may wait, per pooled connection, for their turn to be written
        /// (behind the batches out on it). Past it a call throws `backendUnavailable` at once
        /// rather than queueing: a server that cannot keep up, or does not answer, makes
        /// calls fail instead of memory grow. A call is always taken when nothing waits.
        public var maxQueuedCommands: Int = 16_384
        /// How many bytes of commands may wait per pooled connection, as with
        /// ``maxQueuedCommands``: the bound that counts for large values.
        public var maxQueuedBytes: Int = 64 << 20
        /// Seed nodes of a Redis Cluster; empty (the default) for one server at `endpoint`.
        /// Credentials are taken from the first seed for every node; a cluster has only
        /// database 0.
        ///
        /// ```swift
        /// var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: "redis://10.0.0.1:7000"))
        /// configuration.clusterSeeds = [configuration.endpoint, try RedisEndpoint(url: "redis://10.0.0.2:7000")]
        /// ```
        public var clusterSeeds: [RedisEndpoint] = []
        /// Sentinel, for a primary it watches (high availability without a cluster): the
        /// primary is found through the sentinels, and followed through a failover. The
        /// endpoint's credentials, database and TLS are the primary's (its address is
        /// replaced by the one Sentinel gives); ``tls`` covers the sentinels too. `nil` (the
        /// default): `endpoint` is the server. Set by a `redis-sentinel://` URL.
        ///
        /// ```swift
        /// configuration.sentinel = RedisSentinel(sentinels: [try RedisEndpoint(url: "redis://s1:26379")], primaryName: "cache")
        /// ```
        public var sentinel: RedisSentinel? = nil
        /// On a cluster, how long a call may keep following redirections and waiting out a
        /// failover or a slot migration before it fails with `backendUnavailable`.
        public var clusterRetryTime: Duration = .seconds(3)
        /// The coder of the values this store writes: `JSONValueCoder` by default (as every
        /// release before coders could be chosen), or `BinaryValueCoder` (`.binary`), or
        /// yours. Entries stay readable whichever coder wrote them (see `ValueFormat`);
        /// `String`, `Data` and `[UInt8]` are stored as raw bytes whatever the coder.
        ///
        /// ```swift
        /// configuration.valueCoder = .binary
        /// ```
        public var valueCoder: any ValueCoder = JSONValueCoder()
        /// Whether the coded values this store writes are compressed: `ValueCompression.none`
        /// by default.
        ///
        /// ```swift
        /// configuration.compression = .zlib(above: 1024)
        /// ```
        public var compression: ValueCompression = .none
        /// Coders of your own whose entries this store still reads, though it no longer
        /// writes with them (JSON and `BinaryValueCoder` are always read).
        ///
        /// ```swift
        /// configuration.previousValueCoders = [OldMessageCoder()]
        /// ```
        public var previousValueCoders: [any ValueCoder] = []

        #if Logging
        /// Where the store and its invalidation bus log (with the `Logging` trait): a
        /// connection lost and regained, a subscription lost, refused or restored (and L1
        /// dropped), an announcement that could not be published. `nil` logs nothing.
        ///
        /// ```swift
        /// configuration.logger = Logger(label: "redis")
        /// ```
        public var logger: Logger? = nil
        #endif

        /// A configuration for `endpoint`.
        public init(
            endpoint: RedisEndpoint,
            connectTimeout: Duration = .seconds(2),
            commandTimeout: Duration = .seconds(5),
            poolSize: Int = 4,
            keyNamespace: String = "",
            defaultExpiry: Expiry? = nil,
            scanBatchSize: Int = 1_000
        ) {
            self.endpoint = endpoint
            self.connectTimeout = connectTimeout
            self.commandTimeout = commandTimeout
            self.poolSize = poolSize
            self.keyNamespace = keyNamespace
            self.defaultExpiry = defaultExpiry
            self.scanBatchSize = scanBatchSize
        }
    }
}

extension RedisStore {
    /// The configuration's coder, compression and previous coders.
    public var valueFormat: ValueFormat {
        ValueFormat(
            coder: configuration.valueCoder, compression: configuration.compression, previousCoders: configuration.previousValueCoders)
    }
}
