/// What a computation run by `getOrSet` or `memoize` with options can see and choose:
/// the value kept past its lifetime (to revalidate it cheaply, with an ETag say), and the
/// options its result is stored with (a short lifetime for a partial result, say).
///
/// ```swift
/// let page = try await cache.getOrSet("page:home", as: Page.self, options: options) { context in
///     let page = try await render(previous: context.staleValue)
///     if page.isPartial { context.options.expires = "30s" }
///     context.options.tags = ["pages", "team:\(page.team)"]
///     return page
/// }
/// ```
public final class ComputeContext<Value: Sendable>: Sendable {
    /// The value kept past its lifetime (within its grace), or `nil`.
    public let staleValue: Value?
    /// When ``staleValue`` was written, or `nil`.
    public let staleWrittenAt: Timestamp?
    private let chosen: Lock<EntryOptions>

    init(staleValue: Value?, staleWrittenAt: Timestamp?, options: EntryOptions) {
        self.staleValue = staleValue
        self.staleWrittenAt = staleWrittenAt
        self.chosen = Lock(options)
    }

    /// The options the computed value is stored with: the call's, merged with the store's;
    /// change them to choose its lifetime, grace and tags after seeing the value.
    public var options: EntryOptions {
        get { chosen.withLock { $0 } }
        set { chosen.withLock { $0 = newValue } }
    }
}
