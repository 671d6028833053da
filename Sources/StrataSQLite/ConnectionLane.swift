import CSQLite
import Dispatch
import Strata
import Synchronization

/// A connection with a thread of its own to fall back on.
///
/// SQLite calls block. A call first tries the connection inline, on the caller's thread,
/// only if the connection is free and with a busy timeout of zero, so the attempt can
/// never wait on another thread or process. If the connection is in use, or another
/// process holds a lock (`SQLITE_BUSY`), the call moves to the lane's own serial queue,
/// where it may wait (up to the configured busy timeout) without holding one of Swift's
/// cooperative threads.
final class ConnectionLane: Sendable {
    private let connection: Lock<SQLiteConnection>
    private let queue: DispatchQueue
    private let busyTimeoutMilliseconds: Int32

    init(_ connection: sending SQLiteConnection, label: String, busyTimeoutMilliseconds: Int32) {
        self.connection = Lock(connection)
        self.queue = DispatchQueue(label: label)
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
    }

    private enum Attempt<Result> {
        case done(Result)
        case busy
    }

    /// Runs `operation` on the caller's thread if the connection is free and the call
    /// needs no lock held elsewhere; `nil` (having done nothing) otherwise.
    func runInline<Output>(_ operation: @Sendable (SQLiteConnection) throws -> Output) throws -> Output? {
        let attempt: Attempt<Output>? = try connection.withLockIfAvailable { connection in
            guard !connection.isClosed else { throw ConnectionClosed() }
            connection.setBusyTimeout(milliseconds: 0)
            do {
                return .done(try operation(connection))
            } catch let failure as SQLiteFailure where failure.isBusy {
                return .busy
            }
        }
        if case .done(let result)? = attempt { return result }
        return nil
    }

    /// Runs `operation` on the connection; see the type's documentation for where.
    func run<Output: Sendable>(_ operation: @escaping @Sendable (SQLiteConnection) throws -> Output) async throws -> Output {
        if let result = try runInline(operation) { return result }
        return try await runOnLaneThread(operation)
    }

    /// Runs `operation` on the lane's own thread, always (for long work such as sweeps).
    func runOnLaneThread<Output: Sendable>(_ operation: @escaping @Sendable (SQLiteConnection) throws -> Output) async throws -> Output {
        defer { SanitizerHandOff.receive(through: self) }  // the output or the error
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                let result = Swift.Result {
                    try self.connection.withLock { connection in
                        guard !connection.isClosed else { throw ConnectionClosed() }
                        connection.setBusyTimeout(milliseconds: busyTimeoutMilliseconds)
                        return try operation(connection)
                    }
                }
                SanitizerHandOff.handOff(through: self)  // also when it resumes before the caller suspended
                continuation.resume(with: result)
            }
        }
    }

    /// Closes the connection now, on the caller's thread, once no call is using it (for a
    /// store whose opening failed, before any call could start).
    func closeNow() {
        connection.withLock { $0.close() }
    }

    /// Closes the connection on the lane's own thread once no call is using it: closing the
    /// last connection to a file checkpoints its write-ahead log, which writes and waits for
    /// the disk, so it does not run on a cooperative thread.
    func close() async {
        let connection = self.connection
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            queue.async { [self] in
                connection.withLock { $0.close() }
                SanitizerHandOff.handOff(through: self)
                done.resume()
            }
        }
        SanitizerHandOff.receive(through: self)
    }

    /// A lane released without ``close()`` (its store was released without `close()`)
    /// closes its connection on its own thread: no call can be using it, since a call holds
    /// the store, and the store holds the lane.
    deinit {
        let connection = self.connection
        queue.async { connection.withLock { $0.close() } }
    }
}
