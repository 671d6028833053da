import Strata

/// An error reply from the Redis server: the refusal itself, kept as the `underlying`
/// error of the `StrataError` a call throws, so a caller can tell `OOM` from `READONLY`.
///
/// Redis starts every error reply with a word that names its kind (`OOM`, `READONLY`,
/// `NOPERM`, `BUSY`, `LOADING`, `MISCONF`, `ERR`…). A refusal raised inside one of the
/// store's scripts carries the same word (Redis 7 keeps it; the `-KIND` inside an older
/// server's `ERR Error running script` text is found too).
///
/// ```swift
/// do {
///     try await redis.set("report", report)
/// } catch let error as StrataError {
///     if let refusal = error.underlying as? RedisServerError, refusal.kind == "OOM" {
///         // Redis is at maxmemory with noeviction: nothing was stored
///     }
/// }
/// ```
public struct RedisServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The first word of the reply, which names the kind of error: `OOM`, `READONLY`…
    public var kind: String
    /// The whole reply, as the server wrote it.
    public var message: String
    /// The command that was refused, for example `SET` or `EVAL`.
    public var command: String

    /// An error reply to `command`.
    ///
    /// ```swift
    /// let refusal = RedisServerError(message: "READONLY You can't write against a read only replica.", command: "SET")
    /// refusal.kind   // "READONLY"
    /// ```
    public init(message: String, command: String) {
        self.message = message
        self.command = command
        self.kind = Self.kind(of: message)
    }

    /// `SET refused by the server: OOM command not allowed …`.
    public var description: String { "\(command) refused by the server: \(message)" }

    /// What a caller can do about the refusal, as a `StrataError.Code`:
    /// - `StrataError.Code.storageFull`: `OOM`;
    /// - `StrataError.Code.accessDenied`: `NOPERM`, `NOAUTH`, `WRONGPASS`, and a
    ///   script's command that the user's ACL does not allow;
    /// - `StrataError.Code.corruptEntry`: `WRONGTYPE` (the key holds a list, a hash…);
    /// - `StrataError.Code.notAnInteger`: `increment` of a value that is not an integer
    ///   or would overflow;
    /// - `StrataError.Code.backendUnavailable`: everything else, above all what a
    ///   retry, a failover or an operator cures: `READONLY`, `LOADING`, `BUSY`,
    ///   `MISCONF`, `MASTERDOWN`, `NOREPLICAS`, `TRYAGAIN`, `CLUSTERDOWN`, `MOVED`, `ASK`.
    ///
    /// ```swift
    /// RedisServerError(message: "OOM command not allowed…", command: "SET").code == .storageFull
    /// ```
    public var code: StrataError.Code {
        switch kind {
        case "OOM": return .storageFull
        case "NOPERM", "NOAUTH", "WRONGPASS": return .accessDenied
        case "WRONGTYPE": return .corruptEntry
        default: break
        }
        if message.contains("can't run this command") { return .accessDenied }  // a script's call refused by the ACL
        if message.contains("not an integer") || message.contains("would overflow") { return .notAnInteger }
        return .backendUnavailable
    }

    /// The reply's first word, or the `-KIND` that an older server's script error wraps.
    private static func kind(of message: String) -> String {
        let first = String(message.prefix { $0 != " " })
        guard first == "ERR" else { return first }
        for wrapped in ["OOM", "READONLY", "NOPERM", "NOAUTH", "BUSY", "LOADING", "MISCONF", "MASTERDOWN", "NOREPLICAS"]
        where message.contains("-\(wrapped) ") {
            return wrapped
        }
        return first
    }
}
