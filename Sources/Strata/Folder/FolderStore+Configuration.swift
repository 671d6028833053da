extension FolderStore {
    /// Where a ``FolderStore`` keeps its files and how it writes them.
    ///
    /// ```swift
    /// var configuration = FolderStore.Configuration(directory: "/var/cache/app")
    /// configuration.synchronizesWrites = true
    /// let folder = try FolderStore(configuration: configuration)
    /// ```
    public struct Configuration: Sendable {
        /// The directory; created (mode 0700, with its parents) when missing.
        public var directory: String
        /// The lifetime of entries written with `expires: nil`; `nil`: they never expire.
        public var defaultExpiry: Expiry?
        /// The clock lifetimes are measured with.
        public var clock: any StrataClock
        /// Whether each write is flushed to the disk (`fsync`) before it becomes visible,
        /// so it survives a power loss, not only a crash of the process. Off by default.
        public var synchronizesWrites: Bool
        /// Temporary files left by a killed writer are removed, when the store opens and
        /// by each sweep, once this old. Five minutes by default.
        public var abandonedFileAge: Duration
        /// Threads the store's file work runs on (never Swift's cooperative threads, which
        /// a slow disk, a lock held by another process or a network file system would
        /// stall). Four by default. A read that cannot wait (on Linux, on a local file
        /// system, path and bytes in the kernel's caches) is served on the calling thread.
        public var fileThreads: Int
        /// How often ``FolderStore/run()`` sweeps expired entries.
        public var sweepInterval: Duration
        /// The coder of the values this store writes: ``JSONValueCoder`` by default (as every
        /// release before coders could be chosen), or ``BinaryValueCoder`` (`.binary`), or
        /// yours. Entries stay readable whichever coder wrote them (see ``ValueFormat``);
        /// `String`, `Data` and `[UInt8]` are stored as raw bytes whatever the coder.
        ///
        /// ```swift
        /// configuration.valueCoder = .binary
        /// ```
        public var valueCoder: any ValueCoder = JSONValueCoder()
        /// Whether the coded values this store writes are compressed: ``ValueCompression/none``
        /// by default.
        ///
        /// ```swift
        /// configuration.compression = .zlib(above: 1024)
        /// ```
        public var compression: ValueCompression = .none
        /// Coders of your own whose entries this store still reads, though it no longer
        /// writes with them (JSON and ``BinaryValueCoder`` are always read).
        ///
        /// ```swift
        /// configuration.previousValueCoders = [OldMessageCoder()]
        /// ```
        public var previousValueCoders: [any ValueCoder] = []

        /// A configuration for `directory`.
        public init(
            directory: String,
            defaultExpiry: Expiry? = nil,
            clock: any StrataClock = SystemClock(),
            synchronizesWrites: Bool = false,
            abandonedFileAge: Duration = .seconds(300),
            fileThreads: Int = 4,
            sweepInterval: Duration = .seconds(60)
        ) {
            self.directory = directory
            self.defaultExpiry = defaultExpiry
            self.clock = clock
            self.synchronizesWrites = synchronizesWrites
            self.abandonedFileAge = abandonedFileAge
            self.fileThreads = fileThreads
            self.sweepInterval = sweepInterval
        }
    }
}

extension FolderStore {
    /// The configuration's coder, compression and previous coders.
    public var valueFormat: ValueFormat {
        ValueFormat(
            coder: configuration.valueCoder, compression: configuration.compression, previousCoders: configuration.previousValueCoders)
    }
}
