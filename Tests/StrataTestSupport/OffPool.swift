import Foundation

/// Runs blocking work on a Dispatch thread and waits for it, suspending: a store's
/// initializer that connects or opens a file (a TLS handshake, a SQLite open) must not
/// hold one of a CI machine's two cooperative threads while the tests beside it run.
package func offPool<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Swift.Result { try work() }) }
    }
}

/// `offPool` for work that cannot fail.
package func offPool<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}
