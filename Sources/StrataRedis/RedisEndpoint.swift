import Strata

/// Where a Redis server is and how to log in, parsed from a URL.
///
/// `redis://[user[:password]@]host[:port][/db]` (port 6379 and database 0 by default;
/// IPv6 hosts in brackets), `rediss://…` for TLS (the same, with ``RedisTLS``'s settings as
/// query items: `?ca=/path/ca.pem&cert=/path/client.pem&key=/path/client.key&server_name=name`,
/// `verify=insecure-none`), or `redis+unix:///path/to.sock[?db=N]`. A password in the URL
/// never appears in a description or an error.
///
/// ```swift
/// let endpoint = try RedisEndpoint(url: "redis://:secret@127.0.0.1:6379/2")
/// let managed = try RedisEndpoint(url: "rediss://default:secret@cache.example.com:6380")
/// ```
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// TCP host and port, or a unix socket path.
    public enum Address: Sendable, Hashable {
        /// A host name or address, and a port.
        case tcp(host: String, port: Int)
        /// The path of a unix domain socket.
        case unix(path: String)
    }

    /// The server's address.
    public var address: Address
    /// The ACL user for `AUTH`, when there is one.
    public var user: String?
    /// The password for `AUTH`, when there is one.
    public var password: String?
    /// The database number for `SELECT`.
    public var database: Int
    /// TLS, when the server speaks it (a `rediss://` URL); `nil`: plain TCP.
    public var tls: RedisTLS?

    /// An endpoint from its parts.
    public init(address: Address, user: String? = nil, password: String? = nil, database: Int = 0, tls: RedisTLS? = nil) {
        self.address = address
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses a `redis://`, `rediss://` or `redis+unix://` URL; throws
    /// `StrataError.Code.invalidConfiguration` naming the URL (with any password replaced by `***`).
    public init(url: String) throws {
        func invalid(_ reason: String) -> StrataError {
            StrataError(
                code: .invalidConfiguration, message: "invalid Redis URL \(Self.redacted(url)): \(reason)")
        }
        if url.hasPrefix("redis+unix://") {
            let rest = url.dropFirst("redis+unix://".count)
            let parts = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            let path = String(parts[0])
            guard path.hasPrefix("/") else { throw invalid("the socket path must be absolute") }
            var database = 0
            if parts.count == 2 {
                for pair in parts[1].split(separator: "&") {
                    let keyValue = pair.split(separator: "=", maxSplits: 1)
                    guard keyValue.count == 2, keyValue[0] == "db", let number = Int(keyValue[1]), number >= 0 else {
                        throw invalid("unknown or malformed query \(pair)")
                    }
                    database = number
                }
            }
            self.init(address: .unix(path: Self.percentDecoded(path)), database: database)
            return
        }
        let scheme = url.hasPrefix("rediss://") ? "rediss://" : "redis://"
        guard url.hasPrefix(scheme) else { throw invalid("the scheme must be redis://, rediss:// or redis+unix://") }
        var rest = Substring(url.dropFirst(scheme.count))
        var tls: RedisTLS? = scheme == "rediss://" ? RedisTLS() : nil
        // The query starts after the credentials: a password may hold a `?`.
        let hostStart = rest.lastIndex(of: "@").map { rest.index(after: $0) } ?? rest.startIndex
        if let question = rest[hostStart...].firstIndex(of: "?") {
            guard tls != nil else { throw invalid("only a rediss:// URL takes query items (TLS settings)") }
            tls = try Self.tls(query: rest[rest.index(after: question)...], invalid: invalid)
            rest = rest[..<question]
        }
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = credentials[..<colon].isEmpty ? nil : Self.percentDecoded(String(credentials[..<colon]))
                password = Self.percentDecoded(String(credentials[credentials.index(after: colon)...]))
            } else if !credentials.isEmpty {
                user = Self.percentDecoded(String(credentials))
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let text = rest[rest.index(after: slash)...]
            if !text.isEmpty {
                guard let number = Int(text), number >= 0 else { throw invalid("the database must be a number") }
                database = number
            }
            rest = rest[..<slash]
        }
        var host = String(rest)
        var port = 6379
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw invalid("an IPv6 host needs a closing ]") }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()), (1...65_535).contains(number) else {
                    throw invalid("the port must be 1 to 65535")
                }
                port = number
            } else if !after.isEmpty {
                throw invalid("unexpected text after the host")
            }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            guard let number = Int(host[host.index(after: colon)...]), (1...65_535).contains(number) else {
                throw invalid("the port must be 1 to 65535")
            }
            port = number
            host = String(host[..<colon])
        }
        guard !host.isEmpty else { throw invalid("the host is missing") }
        self.init(address: .tcp(host: host, port: port), user: user, password: password, database: database, tls: tls)
    }

    /// ``RedisTLS`` from a `rediss://` URL's query items.
    private static func tls(query: Substring, invalid: (String) -> StrataError) throws -> RedisTLS {
        var tls = RedisTLS()
        for pair in query.split(separator: "&") {
            let keyValue = pair.split(separator: "=", maxSplits: 1)
            guard keyValue.count == 2, !keyValue[1].isEmpty else { throw invalid("malformed query item \(pair)") }
            let value = percentDecoded(String(keyValue[1]))
            switch keyValue[0] {
            case "ca": tls.trust = .certificates(path: value)
            case "cert": tls.clientCertificate = value
            case "key": tls.privateKey = value
            case "server_name": tls.serverName = value
            case "verify":
                guard value == "insecure-none" else { throw invalid("verify takes only insecure-none (verification is on by default)") }
                tls.verification = .insecureNoVerification
            default:
                throw invalid("unknown query item \(keyValue[0]) (a rediss:// URL takes ca, cert, key, server_name and verify)")
            }
        }
        return tls
    }

    /// The host name or address (empty for a unix socket): TLS's default server name.
    var host: String {
        if case .tcp(let host, _) = address { return host }
        return ""
    }

    /// The URL with the password hidden, for messages.
    public var description: String {
        let credentials = user.map { $0 + (password == nil ? "" : ":***") + "@" } ?? (password == nil ? "" : ":***@")
        switch address {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "\(tls == nil ? "redis" : "rediss")://\(credentials)\(shownHost):\(port)/\(database)"
        case .unix(let path):
            return "redis+unix://\(path)?db=\(database)"
        }
    }

    static func redacted(_ url: String) -> String {
        guard let scheme = url.firstRange(of: "://"), let at = url.lastIndex(of: "@"), at > scheme.upperBound else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<url.index(after: colon)]) + "***" + String(url[at...])
    }

    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
