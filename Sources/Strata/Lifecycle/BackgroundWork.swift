#if ServiceLifecycle
import ServiceLifecycle
#endif

/// Something with work to do in the background for as long as it is open: a store that
/// sweeps expired entries, a tiered store's sweepers and invalidation subscription.
///
/// `run()` returns normally when its task is cancelled, when the store is closed, and
/// (with the `ServiceLifecycle` trait, where every conforming type is also a `Service`)
/// when a `ServiceGroup` shuts down gracefully.
///
/// ```swift
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await cache.run() }   // sweeps L1 and L2, follows other instances' changes
///     ...
/// }
/// ```
public protocol BackgroundWork: Sendable {
    /// Does the background work until cancelled, closed or shut down, then returns.
    func run() async throws
}

/// The loops of the stores' background work, in one place so that every one of them
/// stops on cancellation and, with the `ServiceLifecycle` trait, on graceful shutdown.
package enum Background {
    /// Calls `work` every `interval` until the task is cancelled, `isFinished()` says so,
    /// or a graceful shutdown begins.
    package static func repeating(
        every interval: Duration, until isFinished: @escaping @Sendable () -> Bool,
        _ work: @escaping @Sendable () async throws -> Void
    ) async throws {
        try await untilShutdown {
            while !Task.isCancelled && !isFinished() {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return  // cancelled while sleeping
                }
                if isFinished() { return }
                try await work()
            }
        }
    }

    /// Runs `body`, cancelling it when a graceful shutdown begins (with the
    /// `ServiceLifecycle` trait; without it, only the task's cancellation stops it).
    package static func untilShutdown(_ body: @escaping @Sendable () async throws -> Void) async throws {
        #if ServiceLifecycle
        try await cancelWhenGracefulShutdown(body)
        #else
        try await body()
        #endif
    }
}
