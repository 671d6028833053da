/// The one error type every Strata store throws.
///
/// `StrataError` is an extensible struct rather than an enum: match on ``code``, and new
/// codes can be added in later releases without breaking a `switch` in your code.
/// Two errors compare equal when their codes are equal, so tests can write
/// `#expect(throws: StrataError.closed) { ... }`.
///
/// The ``description`` names what went wrong: the offending key (escaped and shortened
/// when it is long or holds control characters), the expiry text, or the backend, and
/// the underlying error where there is one.
///
/// ```swift
/// do {
///     _ = try await store.get("user:1", as: User.self)
/// } catch let error as StrataError where error.code == .decodingFailed {
///     print(error)   // decodingFailed: key "user:1" in MemoryStore: ... (underlying: ...)
/// }
/// ```
public struct StrataError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added; match with `==`.
    ///
    /// ```swift
    /// if error.code == .invalidKey { ... }
    /// ```
    /// The core's codes are declared here; a module declares its own beside its code
    /// (`originUnavailable` is declared in `StrataHTTP`), so the core knows no
    /// module's failures.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String

        /// A code named `name`; modules of this package declare theirs with it.
        package init(_ name: String) { self.name = name }

        /// Expiry text or a duration that is not a valid, positive lifetime.
        public static let invalidExpiry = Code("invalidExpiry")
        /// A key that is empty, longer than 1024 UTF-8 bytes or under ``KeyRules/reservedPrefix``.
        public static let invalidKey = Code("invalidKey")
        /// A stored value that cannot be decoded as the requested type.
        public static let decodingFailed = Code("decodingFailed")
        /// A value that cannot be encoded for storage.
        public static let encodingFailed = Code("encodingFailed")
        /// The backend (a folder, a database, a server) cannot be reached or used.
        public static let backendUnavailable = Code("backendUnavailable")
        /// The backend refused a write because it has no room: Redis at `maxmemory` with
        /// the `noeviction` policy (`OOM`), a full disk or database. Retrying at once does
        /// not help; the entry is not stored, and reads still work.
        ///
        /// ```swift
        /// catch let error as StrataError where error.code == .storageFull {
        ///     // serve the value uncached, and alert: the cache is full
        /// }
        /// ```
        public static let storageFull = Code("storageFull")
        /// The backend refused the call for lack of permission: an ACL that does not allow
        /// the command (`NOPERM`), credentials it no longer accepts (`WRONGPASS`, `NOAUTH`),
        /// a read-only file or directory. A configuration problem, not cured by a retry.
        ///
        /// ```swift
        /// catch let error as StrataError where error.code == .accessDenied { ... }
        /// ```
        public static let accessDenied = Code("accessDenied")
        /// A stored entry that is not a valid entry: truncated, garbage, or foreign.
        public static let corruptEntry = Code("corruptEntry")
        /// The store was closed; no further calls are accepted.
        public static let closed = Code("closed")
        /// A value larger than the store will ever hold (for example above `maxBytes`).
        public static let valueTooLarge = Code("valueTooLarge")
        /// `increment` on a value that is not a decimal integer, or that would overflow.
        public static let notAnInteger = Code("notAnInteger")

        /// A store configuration that cannot work (an invalid table name, say).
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// A computation passed its hard timeout (`EntryOptions.hardTimeout`) and no kept
        /// value could stand in; the error names the key.
        ///
        /// ```swift
        /// catch let error as StrataError where error.code == .timeout { ... }
        /// ```
        public static let timeout = Code("timeout")

        /// A key that a bulk `getOrSet`'s computation was asked for and did not return. The
        /// bulk call leaves the key out of its result (a single-key `getOrSet` that waited for
        /// that computation computes the key itself); an eager refresh of such a key reports it.
        ///
        /// ```swift
        /// catch let error as StrataError where error.code == .notComputed { ... }
        /// ```
        public static let notComputed = Code("notComputed")

        /// The code's name, for example `invalidKey`.
        public var description: String { name }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A sentence that says what went wrong, without the key, backend or underlying error.
    public var message: String
    /// The key the operation was about, when there is one.
    public var key: String?
    /// The backend that failed, for example `FolderStore(/var/cache/app)`.
    public var backend: String?
    /// The error that caused this one, when there is one.
    public var underlying: (any Error)?
    /// For a bulk write that failed part-way, the keys it wrote before it failed, sorted by
    /// their UTF-8 bytes (empty when it wrote none); `nil` for every other call.
    ///
    /// ```swift
    /// catch let error as StrataError {
    ///     let stored = error.writtenKeys ?? []   // these hold the new values; retry the rest
    /// }
    /// ```
    public var writtenKeys: [String]?

    /// Creates an error; the library's own errors come from the static helpers.
    ///
    /// ```swift
    /// throw StrataError(code: .backendUnavailable, message: "disk full", backend: "MyStore")
    /// ```
    public init(
        code: Code,
        message: String,
        key: String? = nil,
        backend: String? = nil,
        underlying: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.key = key
        self.backend = backend
        self.underlying = underlying
    }

    /// Errors are equal when their codes are equal.
    public static func == (lhs: StrataError, rhs: StrataError) -> Bool {
        lhs.code == rhs.code
    }

    /// `code: key "…" in backend: message (underlying: …)`.
    public var description: String {
        var text = "\(code): "
        if let key { text += "key \(StrataError.quoted(key)) " }
        if let backend { text += "in \(backend) " }
        if key != nil || backend != nil { text.removeLast(); text += ": " }
        text += message
        if let writtenKeys { text += " (\(writtenKeys.count) keys written before the failure)" }
        if let underlying { text += " (underlying: \(underlying))" }
        return text
    }

    /// A key or text quoted for a message: control characters escaped, and shortened
    /// to its first 64 characters with its byte count when it is longer.
    static func quoted(_ text: String) -> String {
        var shown = ""
        var characters = 0
        for scalar in text.unicodeScalars {
            if characters == 64 {
                shown += "…"
                break
            }
            shown +=
                scalar.properties.generalCategory == .control || scalar == "\""
                ? scalar.escaped(asASCII: true) : String(scalar)
            characters += 1
        }
        let suffix = characters == 64 ? " (\(text.utf8.count) bytes)" : ""
        return "\"\(shown)\"\(suffix)"
    }
}

// MARK: - Marker errors used as placeholders in tests

extension StrataError {
    /// A bare error of code ``Code/closed``, for comparisons: `#expect(throws: StrataError.closed)`.
    public static let closed = StrataError(code: .closed, message: "the store is closed")
    /// A bare error of code ``Code/invalidKey``, for comparisons.
    public static let invalidKey = StrataError(code: .invalidKey, message: "invalid key")
    /// A bare error of code ``Code/invalidExpiry``, for comparisons.
    public static let invalidExpiry = StrataError(code: .invalidExpiry, message: "invalid expiry")
    /// A bare error of code ``Code/decodingFailed``, for comparisons.
    public static let decodingFailed = StrataError(code: .decodingFailed, message: "decoding failed")
    /// A bare error of code ``Code/corruptEntry``, for comparisons.
    public static let corruptEntry = StrataError(code: .corruptEntry, message: "corrupt entry")
    /// A bare error of code ``Code/notAnInteger``, for comparisons.
    public static let notAnInteger = StrataError(code: .notAnInteger, message: "not an integer")
}
