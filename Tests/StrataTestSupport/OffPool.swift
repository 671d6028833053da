import Foundation
import Strata

/// Runs blocking work on a thread of its own and waits for it, suspending: a store's
/// initializer that connects or opens a file (a TLS handshake, a SQLite open) must not
/// hold one of a CI machine's two cooperative threads while the tests beside it run, nor
/// one of Dispatch's shared pool, through which every `Task.sleep` of the process resumes
/// (see `OwnThread`: 40 blocked items there held a 10 ms sleep for 38 s).
package func offPool<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await OwnThread.run(named: "strata-test", work)
}

/// `offPool` for work that cannot fail.
package func offPool<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
    do {
        return try await OwnThread.run(named: "strata-test", work)
    } catch {
        // Only the system's refusal of a thread fails here, before `work` ran: run it
        // where we are, rather than stop the suite.
        return work()
    }
}
