import Foundation
import StrataTestSupport
import StrataTesting

enum Contexts {
    /// The short lifetime of contexts on a manual clock. Time only moves when a check
    /// moves it, so the lifetime can be long; the checks still give up after it in real
    /// time (for stores on real time), and a busy 2-core machine running the whole suite
    /// once took more than 1 s for a few FolderStore calls three times in a row.
    static let manualLifetimeSeconds: Int64 = 5

    static func memory() -> KeyValueStoreConformance.Context {
        let clock = ManualClock()
        return .init(
            makeStore: { MemoryStore(configuration: .init(defaultExpiry: $0, clock: clock)) },
            advanceTime: { clock.advance(by: $0) }, shortLifetimeSeconds: Contexts.manualLifetimeSeconds)
    }

    static func folder() -> KeyValueStoreConformance.Context {
        let clock = ManualClock()
        return .init(
            makeStore: {
                try FolderStore(configuration: .init(directory: temporaryDirectory("folder"), defaultExpiry: $0, clock: clock))
            },
            advanceTime: { clock.advance(by: $0) }, shortLifetimeSeconds: Contexts.manualLifetimeSeconds)
    }
}

extension Contexts {
    /// A tiered store over a folder, both tiers on one manual clock.
    /// A tiered store over a folder, both tiers on one manual clock. Its `l2Timeout` is 60 s:
    /// the contract's checks assume a write lands before the next step, and with the default
    /// 2 s a FolderStore write on a loaded CI machine went on in the background past it, so
    /// the next step found no kept value (the timeout's own behaviour has its own tests).
    static func tieredOverFolder() -> KeyValueStoreConformance.Context {
        let clock = ManualClock()
        return .init(
            makeStore: {
                TieredStore(
                    l1: MemoryStore(configuration: .init(maxEntries: 10_000, clock: clock)),
                    l2: try FolderStore(configuration: .init(directory: temporaryDirectory("tiered"), clock: clock)),
                    configuration: .init(defaultExpiry: $0, l2Timeout: .seconds(60)))
            },
            advanceTime: { clock.advance(by: $0) }, shortLifetimeSeconds: Contexts.manualLifetimeSeconds)
    }
}
