/// How an entry is written and how `getOrSet` and `memoize` behave when its value must
/// be computed again: lifetime, fail-safe grace, computation timeouts, eager refresh and
/// tags.
///
/// Every field is optional: a call's options override the store's defaults
/// (`TieredStore.Configuration.entryOptions`) field by field, and a field set in neither
/// has the behaviour documented on it.
///
/// ```swift
/// var options = EntryOptions(expires: "5min")
/// options.grace = "1h"                     // keep the value 1h past expiry as a fallback
/// options.failSafeThrottle = "30s"         // after a failed computation, serve the fallback this long
/// options.softTimeout = .milliseconds(100) // with a fallback at hand, answer with it after 100 ms
/// options.hardTimeout = .seconds(2)        // stop waiting: fallback, or StrataError .timeout
/// options.refreshAhead = 0.8               // a hit after 80% of the lifetime refreshes in the background
/// options.tags = ["team:3", "user:1"]
/// let report = try await cache.getOrSet("report:3", as: Report.self, options: options) {
///     try await buildReport(team: 3)
/// }
/// ```
public struct EntryOptions: Sendable, Hashable {
    /// The entry's lifetime; `nil`: the store's default lifetime.
    public var expires: Expiry?
    /// How long the entry is kept past its lifetime as a fallback for `getOrSet` and
    /// `memoize` when its computation fails or times out. A plain read never returns it
    /// once expired. `nil`: no grace; the entry is gone when it expires.
    public var grace: Expiry?
    /// After a computation failed and the fallback was served, how long the fallback is
    /// served as fresh before the computation is tried again, so a failing dependency is
    /// not called by every request. `nil`: ``defaultFailSafeThrottle``.
    public var failSafeThrottle: Expiry?
    /// With a fallback at hand, how long a caller waits for the computation before it is
    /// answered with the fallback; the computation goes on and stores its value when it
    /// completes. `nil`: no soft timeout.
    public var softTimeout: Duration?
    /// How long a caller waits for the computation at most: then it gets the fallback, or
    /// without one a `StrataError` with code ``StrataError/Code/timeout`` naming the key.
    /// The computation goes on and stores its value when it completes. `nil`: no limit.
    public var hardTimeout: Duration?
    /// A fraction of the lifetime (between 0 and 1, exclusive): a hit after it returns the
    /// value at once and starts one background computation of the key. `nil`: off.
    public var refreshAhead: Double?
    /// Tags, for ``KeyValueStore/invalidate(tags:)``: invalidating any of them makes the
    /// entry unreadable. `nil`: none (the store's default tags, if any, still apply).
    public var tags: [String]?

    /// The throttle when none is set: 5 seconds.
    public static let defaultFailSafeThrottle: Expiry = "5s"

    /// Options with the given fields; the others unset.
    ///
    /// ```swift
    /// try await cache.set("user:1", user, options: EntryOptions(expires: "1h", tags: ["team:3"]))
    /// ```
    public init(
        expires: Expiry? = nil,
        grace: Expiry? = nil,
        failSafeThrottle: Expiry? = nil,
        softTimeout: Duration? = nil,
        hardTimeout: Duration? = nil,
        refreshAhead: Double? = nil,
        tags: [String]? = nil
    ) {
        self.expires = expires
        self.grace = grace
        self.failSafeThrottle = failSafeThrottle
        self.softTimeout = softTimeout
        self.hardTimeout = hardTimeout
        self.refreshAhead = refreshAhead
        self.tags = tags
    }

    /// These options, with every unset field taken from `defaults`; tags are the union.
    ///
    /// ```swift
    /// let effective = callOptions.overriding(storeDefaults)
    /// ```
    public func overriding(_ defaults: EntryOptions) -> EntryOptions {
        var merged = EntryOptions(
            expires: expires ?? defaults.expires,
            grace: grace ?? defaults.grace,
            failSafeThrottle: failSafeThrottle ?? defaults.failSafeThrottle,
            softTimeout: softTimeout ?? defaults.softTimeout,
            hardTimeout: hardTimeout ?? defaults.hardTimeout,
            refreshAhead: refreshAhead ?? defaults.refreshAhead,
            tags: tags)
        if let defaultTags = defaults.tags {
            var union = tags ?? []
            // By bytes, as tags compare: a default tag equal to a call's as a Swift string
            // but spelled otherwise ("é" two ways) is another tag, and is kept.
            for tag in defaultTags where !union.contains(where: { $0.utf8.elementsEqual(tag.utf8) }) { union.append(tag) }
            merged.tags = union
        }
        return merged
    }

    /// Whether an entry written with these options needs the metadata envelope (grace,
    /// tags, or the write time that eager refresh measures the lifetime from).
    var needsEnvelope: Bool {
        grace != nil || !(tags ?? []).isEmpty || refreshAhead != nil
    }

    /// Checks what a store cannot honour; names the offending field.
    func validate(key: String, backend: String) throws {
        if let refreshAhead, !(refreshAhead > 0 && refreshAhead < 1) {
            throw StrataError(
                code: .invalidConfiguration, message: "refreshAhead must be between 0 and 1, exclusive (got \(refreshAhead))",
                key: key, backend: backend)
        }
        for timeout in [softTimeout, hardTimeout].compactMap({ $0 }) where timeout <= .zero {
            throw StrataError(
                code: .invalidConfiguration, message: "a computation timeout must be positive (got \(timeout))",
                key: key, backend: backend)
        }
        if let tags, tags.count > EntryEnvelope.maximumTags {
            throw StrataError(
                code: .invalidConfiguration,
                message: "an entry can carry at most \(EntryEnvelope.maximumTags) tags (got \(tags.count))",
                key: key, backend: backend)
        }
        for tag in tags ?? [] { try EntryEnvelope.validateTag(tag, backend: backend) }
    }
}
