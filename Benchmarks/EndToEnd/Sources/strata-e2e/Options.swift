import Foundation

/// The command line: `strata-e2e --framework hummingbird|vapor --cache none|framework|strata
/// --port N [--redis URL] [--lock on|off|two-step] [--latency-ms 2]`.
struct Options: Sendable {
    enum Framework: String, Sendable { case hummingbird, vapor }
    /// What serves the route: no cache (every request queries), the framework's own
    /// in-memory store (get, then query and set on a miss), or Strata's TieredStore over
    /// Redis (`getOrSet`: computed once per key, with the bus and the compute lock).
    enum Cache: String, Sendable { case none, framework, strata }

    var framework: Framework = .hummingbird
    var cache: Cache = .none
    var port = 8080
    var redis = "redis://127.0.0.1:6379"
    /// The compute lock: on (`RedisComputeLock`), off, or two-step (the same lock taken and
    /// released apart from the key's lease and write, as on a cluster: two round trips more a
    /// miss, for comparisons by hand).
    enum ComputeLockMode: String, Sendable { case on, off, twoStep = "two-step" }

    var computeLock = ComputeLockMode.on
    var latency: Duration = .milliseconds(2)

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var iterator = arguments.makeIterator()
        while let name = iterator.next() {
            guard let value = iterator.next() else { throw UsageError(text: "\(name) needs a value") }
            switch name {
            case "--framework":
                guard let framework = Framework(rawValue: value) else { throw UsageError(text: "unknown framework \(value)") }
                options.framework = framework
            case "--cache":
                guard let cache = Cache(rawValue: value) else { throw UsageError(text: "unknown cache \(value)") }
                options.cache = cache
            case "--port":
                guard let port = Int(value) else { throw UsageError(text: "bad port \(value)") }
                options.port = port
            case "--redis":
                options.redis = value
            case "--lock":
                guard let mode = ComputeLockMode(rawValue: value) else {
                    throw UsageError(text: "--lock takes on, off or two-step, not \(value)")
                }
                options.computeLock = mode
            case "--latency-ms":
                guard let milliseconds = Double(value) else { throw UsageError(text: "bad latency \(value)") }
                options.latency = .microseconds(Int(milliseconds * 1000))
            default:
                throw UsageError(text: "unknown option \(name)")
            }
        }
        return options
    }
}

struct UsageError: Error, CustomStringConvertible {
    var text: String
    var description: String { text }
}
