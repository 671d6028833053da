import Strata

/// Where a Redis primary watched by Sentinel is found: the sentinels to ask and the name
/// they know it by.
///
/// A store configured with one asks the sentinels for the primary's address
/// (`SENTINEL get-master-addr-by-name`), checks it with `ROLE`, and follows a failover:
/// it listens for `+switch-master` on a sentinel, and a connection that finds a demoted
/// primary (`READONLY`) looks the primary up again. The endpoint's credentials, database
/// and TLS are the primary's; the address Sentinel gives replaces its host and port.
///
/// ```swift
/// let ha = try RedisStore(url: "redis-sentinel://s1:26379,s2:26379,s3:26379/mymaster?db=0")
///
/// var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: "redis://:secret@unused/2"))
/// configuration.sentinel = RedisSentinel(
///     sentinels: [try RedisEndpoint(url: "redis://s1:26379"), try RedisEndpoint(url: "redis://s2:26379")],
///     primaryName: "mymaster")
/// ```
public struct RedisSentinel: Sendable, Hashable {
    /// The sentinels, asked in turn (with their own credentials, when they need any).
    public var sentinels: [RedisEndpoint]
    /// The name the sentinels monitor the primary by (`sentinel monitor <name> …`).
    public var primaryName: String

    /// Sentinels watching the primary named `primaryName`.
    ///
    /// ```swift
    /// let sentinel = RedisSentinel(sentinels: [try RedisEndpoint(url: "redis://10.0.0.5:26379")], primaryName: "cache")
    /// ```
    public init(sentinels: [RedisEndpoint], primaryName: String) {
        self.sentinels = sentinels
        self.primaryName = primaryName
    }

    /// Parses `redis-sentinel://[user:password@]host:port[,host:port…]/name[?db=N&sentinel_password=P]`
    /// (port 26379 by default): the sentinels, the primary's name, and the primary's login
    /// (the credentials before `@` and `db`; `sentinel_password` for sentinels that require
    /// one). TLS for both comes from ``RedisStore/Configuration/tls``. Throws
    /// `invalidConfiguration` naming the URL (its passwords hidden).
    ///
    /// ```swift
    /// let (sentinel, primary) = try RedisSentinel.parse(url: "redis-sentinel://:secret@s1:26379,s2/cache?db=1")
    /// ```
    public static func parse(url: String) throws -> (sentinel: RedisSentinel, primary: RedisEndpoint) {
        // A query holding the sentinels' password is not shown at all (an unencoded & in the
        // password would otherwise show its end as another item).
        let redacted = RedisEndpoint.redacted(url)
        let shown =
            redacted.contains("sentinel_password")
            ? String(redacted.prefix { $0 != "?" }) + "?***" : redacted
        func invalid(_ reason: String) -> StrataError {
            StrataError(code: .invalidConfiguration, message: "invalid Redis Sentinel URL \(shown): \(reason)")
        }
        let scheme = "redis-sentinel://"
        guard url.hasPrefix(scheme) else { throw invalid("the scheme must be redis-sentinel://") }
        var rest = Substring(url.dropFirst(scheme.count))
        var primary = RedisEndpoint(address: .tcp(host: "", port: 6379))
        var sentinelPassword: String?
        let hostStart = rest.lastIndex(of: "@").map { rest.index(after: $0) } ?? rest.startIndex
        if let question = rest[hostStart...].firstIndex(of: "?") {
            for pair in rest[rest.index(after: question)...].split(separator: "&") {
                let keyValue = pair.split(separator: "=", maxSplits: 1)
                // Neither message quotes the item: it may be the end of a password holding an unencoded &.
                guard keyValue.count == 2, !keyValue[1].isEmpty else {
                    throw invalid("a malformed query item (each is name=value; percent-encode & and = in a password)")
                }
                switch keyValue[0] {
                case "db":
                    guard let number = Int(keyValue[1]), number >= 0 else { throw invalid("the database must be a number") }
                    primary.database = number
                case "sentinel_password":
                    sentinelPassword = RedisEndpoint.percentDecoded(String(keyValue[1]))
                default:
                    throw invalid("an unknown query item (it takes db and sentinel_password; percent-encode & and = in a password)")
                }
            }
            rest = rest[..<question]
        }
        if let at = rest.lastIndex(of: "@") {
            let login = try RedisEndpoint(url: "redis://" + rest[...at] + "x")
            primary.user = login.user
            primary.password = login.password
            rest = rest[rest.index(after: at)...]
        }
        guard let slash = rest.firstIndex(of: "/"), rest.index(after: slash) < rest.endIndex else {
            throw invalid("the primary's name is missing (…/mymaster)")
        }
        let name = RedisEndpoint.percentDecoded(String(rest[rest.index(after: slash)...]))
        guard !name.contains("/") else { throw invalid("the database goes in ?db=N, after the primary's name") }
        var sentinels: [RedisEndpoint] = []
        for host in rest[..<slash].split(separator: ",", omittingEmptySubsequences: false) {
            let withPort =
                host.contains("]")
                ? (host.hasSuffix("]") ? host + ":26379" : host)
                : (host.contains(":") ? host : host + ":26379")
            guard !host.isEmpty, var sentinel = try? RedisEndpoint(url: "redis://" + withPort) else {
                throw invalid("the sentinel \(host.isEmpty ? "(empty)" : String(host)) is not host:port")
            }
            sentinel.password = sentinelPassword
            sentinels.append(sentinel)
        }
        return (RedisSentinel(sentinels: sentinels, primaryName: name), primary)
    }
}
