import Foundation
import Strata

/// Runs blocking work on a thread of its own and waits for it, suspending: a store's
/// initializer that connects or opens a file (a TLS handshake, a SQLite open) must not
/// hold one of a CI machine's two cooperative threads while the tests beside it run, nor
/// one of Dispatch's shared pool, whose threads run every task of the process on Linux
/// (see `OwnThread`: 20 blocked items there held eight trivial child tasks for 18 s).
package func offPool<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await OwnThread.run(named: "strata-test", work)
}

/// `offPool` for work that cannot fail.
package func offPool<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
    do {
        return try await OwnThread.run(named: "strata-test", work)
    } catch {
        // Only the system's refusal of a thread fails here. Run where we are, the work
        // (a blocking read, a held semaphore) could freeze one of the two cooperative
        // threads, and the suite with it: stop with the reason instead.
        preconditionFailure("\(error)")
    }
}
