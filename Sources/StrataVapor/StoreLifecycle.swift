#if Vapor
public import Strata
import Synchronization
public import Vapor

/// Runs a store's background work for as long as the application runs, and closes the
/// store when it shuts down: `app.lifecycle.use(StoreLifecycle(cache))`.
///
/// Vapor runs nothing of a store by itself: without this handler (or a task of your own
/// running `store.run()`), a `TieredStore`'s invalidation subscription never starts, and
/// nothing sweeps expired entries (so also abandoned sessions): a SQLite row or a file is
/// never returned once expired but stays until a write or delete of its key. The handler
/// starts `BackgroundWork.run()` when the application has booted; at shutdown it stops
/// the server first (which waits for the requests in flight: Vapor would otherwise stop it
/// after the handlers, and those requests would find the store closed), then cancels the
/// background work, waits for it to return, and closes the store.
///
/// An error the background work throws (a bus in `.tracking` mode over a store it cannot
/// follow, say) is logged with the application's logger; the application keeps serving.
///
/// The store is closed by `asyncShutdown()` (an application made with `Application.make`,
/// as Vapor's template does). The older synchronous `shutdown()` cannot wait: it only
/// cancels the background work, and the store stays open until you close it.
///
/// ```swift
/// let app = try await Application.make(.detect())
/// let cache = TieredStore(l1: MemoryStore(maxEntries: 10_000), l2: try SQLiteStore(path: "cache.sqlite"))
/// app.caches.use(.strata(cache))
/// app.sessions.use(.strata(cache))
/// app.lifecycle.use(StoreLifecycle(cache))   // sweeps expired rows and sessions; closes the store
/// try await app.execute()
/// try await app.asyncShutdown()
/// ```
public final class StoreLifecycle: LifecycleHandler, Sendable {
    /// The store run and closed.
    public let store: any KeyValueStore
    private let background = Mutex<Task<Void, Never>?>(nil)

    /// A handler for `store`; a store without background work (`BackgroundWork`) is only
    /// closed at shutdown.
    ///
    /// ```swift
    /// app.lifecycle.use(StoreLifecycle(try SQLiteStore(path: "cache.sqlite")))
    /// ```
    public init(_ store: any KeyValueStore) {
        self.store = store
    }

    /// Starts the store's background work (called by Vapor once the application booted).
    ///
    /// ```swift
    /// try await app.asyncBoot()   // calls didBoot on every handler
    /// ```
    public func didBoot(_ application: Application) throws {
        guard let work = store as? any BackgroundWork else { return }
        let logger = application.logger
        background.withLock { task in
            guard task == nil else { return }  // booted once
            task = Task {
                do {
                    try await work.run()  // returns when cancelled
                } catch {
                    logger.report(error: error)
                }
            }
        }
    }

    /// Stops the server (waiting for the requests in flight), cancels the background work
    /// and waits for it to return, then closes the store (called by Vapor's `asyncShutdown()`).
    ///
    /// ```swift
    /// try await app.asyncShutdown()
    /// ```
    public func shutdownAsync(_ application: Application) async {
        // Vapor runs the handlers before it stops the server (in its storage's shutdown),
        // so requests in flight would find the store closed: stop the server first (it
        // waits for them; stopping it again later does nothing).
        await application.server.shutdown()
        let task = background.withLock { $0.take() }
        task?.cancel()
        await task?.value
        do {
            try await store.close()
        } catch {
            application.logger.report(error: error)
        }
    }

    /// Cancels the background work without waiting for it (called by the synchronous
    /// `shutdown()`, which cannot wait): the store stays open; close it yourself.
    ///
    /// ```swift
    /// app.shutdown()          // from synchronous code only
    /// // then, from async code: try await cache.close()
    /// ```
    public func shutdown(_ application: Application) {
        background.withLock { $0.take() }?.cancel()
    }
}
#endif
