import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Threads started for one piece of blocking work each: a look-up that waits on a slow
/// DNS server or a frozen sentinel, a connection served until its client leaves, a read of
/// a child process's output.
///
/// Such work must not run on `DispatchQueue.global()`. On Linux Swift's tasks run on the
/// threads of that same pool (the global executor enqueues its jobs there), which has as
/// many threads as cores and adds one a second while they are all blocked: with 20 items
/// blocked there, a task group of eight trivial child tasks took 18 s, and with 40 a
/// `Task.sleep(for: .milliseconds(10))` took 38 s (scratch programs on this package's
/// 2-core CI machine, 2026-12-05 08:05 and 08:58 UTC). Every task of the process waits
/// with them. Serial
/// queues (`DispatchQueue(label:)`) get threads at once but share a limit of 255: the
/// 256th blocked item waits for one of the others to finish. A thread of its own has
/// neither limit.
///
/// ```swift
/// let addresses = try await OwnThread.run(named: "strata-dns") { try resolve(host) }
/// ```
package enum OwnThread {
    /// Starts a detached thread named `name` (the first 15 bytes, as Linux keeps them)
    /// running `body`.
    ///
    /// Throws `backendUnavailable` naming `name` and the system's reason when the system
    /// refuses a thread (a process or memory limit).
    ///
    /// ```swift
    /// try OwnThread.start(named: "strata-http") { serve(connection) }
    /// ```
    package static func start(named name: String, _ body: @escaping @Sendable () -> Void) throws {
        final class Work {
            let name: String
            let body: @Sendable () -> Void
            init(name: String, body: @escaping @Sendable () -> Void) {
                self.name = name
                self.body = body
            }
        }
        // glibc's pthread_t is an integer; Darwin's and musl's are pointers.
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t? = nil
        #endif
        let argument = Unmanaged.passRetained(Work(name: name, body: body)).toOpaque()
        let result = pthread_create(
            &thread, nil,
            { argument in
                #if canImport(Darwin)
                let work = Unmanaged<Work>.fromOpaque(argument).takeRetainedValue()
                _ = pthread_setname_np(String(decoding: work.name.utf8.prefix(15), as: UTF8.self))
                #else
                let work = Unmanaged<Work>.fromOpaque(argument!).takeRetainedValue()
                _ = OwnThread.setName?(pthread_self(), String(decoding: work.name.utf8.prefix(15), as: UTF8.self))
                #endif
                work.body()
                return nil
            }, argument)
        guard result == 0 else {
            Unmanaged<Work>.fromOpaque(argument).release()
            throw StrataError(
                code: .backendUnavailable,
                message: "cannot start a thread for \(name): \(String(cString: strerror(result)))")
        }
        #if canImport(Glibc)
        pthread_detach(thread)
        #else
        if let thread { pthread_detach(thread) }
        #endif
    }

    #if !canImport(Darwin)
    /// The C library's `pthread_setname_np` (glibc, musl), looked up at run time: Swift does not import it (it
    /// needs `_GNU_SOURCE`). The name shows in `top -H`, `perf` and a debugger.
    private static let setName: (@convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pthread_setname_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32).self)
    }()
    #endif

    /// Runs `work` on a thread of its own named `name`, suspending the caller (no
    /// cooperative thread waits), and returns what it returned or throws what it threw.
    ///
    /// ```swift
    /// let primary = try await OwnThread.run(named: "strata-sentinel") { try find() }
    /// ```
    package static func run<Output: Sendable>(
        named name: String, _ work: @escaping @Sendable () throws -> Output
    ) async throws -> Output {
        try await run(named: name, resumingBeforeSuspending: false, work)
    }

    /// ``run(named:_:)``; with `resumingBeforeSuspending`, the caller waits (blocking its
    /// thread: for tests only) until the thread has resumed it, and only then suspends. That
    /// forces the order in which Swift's runtime tells ThreadSanitizer nothing (see
    /// ``SanitizerHandOff``), which otherwise happens only when the caller's thread is
    /// descheduled at the wrong moment.
    package static func run<Output: Sendable>(
        named name: String, resumingBeforeSuspending: Bool, _ work: @escaping @Sendable () throws -> Output
    ) async throws -> Output {
        let handOff = SanitizerHandOff.Token()
        // A relaxed flag, spun on: a semaphore or a lock would itself tell TSan the order.
        let resumed = resumingBeforeSuspending ? ResumedFlag() : nil
        defer { SanitizerHandOff.receive(through: handOff) }  // the output or the error
        return try await withCheckedThrowingContinuation { continuation in
            do {
                try start(named: name) {
                    let result = Result(catching: work)
                    SanitizerHandOff.handOff(through: handOff)
                    continuation.resume(with: result)
                    resumed?.value.store(true, ordering: .relaxed)
                }
                while let resumed, !resumed.value.load(ordering: .relaxed) { sched_yield() }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    private final class ResumedFlag: Sendable {
        let value = Atomic(false)
    }
}
