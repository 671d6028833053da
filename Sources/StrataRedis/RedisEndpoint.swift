import Strata

/// Where a Redis server is and how to log in, parsed from a URL.
///
/// `redis://[user[:password]@]host[:port][/db]` (port 6379 and database 0 by default;
/// IPv6 hosts in brackets) or `redis+unix:///path/to.sock[?db=N]`. A password in the URL
/// never appears in a description or an error.
///
/// ```swift
/// let endpoint = try RedisEndpoint(url: "redis://:secret@127.0.0.1:6379/2")
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

    /// An endpoint from its parts.
    public init(address: Address, user: String? = nil, password: String? = nil, database: Int = 0) {
        self.address = address
        self.user = user
        self.password = password
        self.database = database
    }

    /// Parses a `redis://` or `redis+unix://` URL; throws `StrataError.Code.invalidConfiguration`
    /// naming the URL (with any password replaced by `***`).
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
        guard url.hasPrefix("redis://") else { throw invalid("the scheme must be redis:// or redis+unix://") }
        var rest = Substring(url.dropFirst("redis://".count))
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
        self.init(address: .tcp(host: host, port: port), user: user, password: password, database: database)
    }

    /// The URL with the password hidden, for messages.
    public var description: String {
        let credentials = user.map { $0 + (password == nil ? "" : ":***") + "@" } ?? (password == nil ? "" : ":***@")
        switch address {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "redis://\(credentials)\(shownHost):\(port)/\(database)"
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

    private static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
               let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
