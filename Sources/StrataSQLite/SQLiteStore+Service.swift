#if ServiceLifecycle
public import ServiceLifecycle

/// With the `ServiceLifecycle` trait: the sweeper (``SQLiteStore/run()``) is a `Service`
/// that stops on graceful shutdown; wrap the store in `StoreService` to close it then too.
extension SQLiteStore: Service {}
#endif
