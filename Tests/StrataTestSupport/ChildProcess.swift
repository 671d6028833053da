import Foundation
import Strata

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process for the tests (a `redis-server`, `redis-cli`, the fixture executable),
/// started with `posix_spawn`.
///
/// Not Foundation's `Process`: on Linux its `run()` crashes now and then while it lists
/// `/proc/self/fd` (a read past the end of a directory entry,
/// swift-corelibs-foundation#5472, in the toolchain this project builds with), which took
/// the whole test run down about once in five runs here.
package final class ChildProcess: Sendable {
    /// Where the child's standard output or error goes.
    package enum Output: Sendable {
        /// `/dev/null`.
        case discarded
        /// Where the test process's goes.
        case inherited
        /// A pipe whose read end is ``output`` (standard output only).
        case piped
    }

    /// The child's process id.
    package let pid: pid_t
    /// The read end of the child's standard output, when it was `.piped`.
    package let output: FileHandle?
    private let status = Lock<Int32?>(nil)

    /// Starts `executable` with `arguments`; throws when it cannot be started.
    package init(_ executable: String, _ arguments: [String], output: Output = .inherited, errors: Output = .inherited) throws {
        // One spawn at a time: a pipe is made close-on-exec just after it is made, and no
        // other child may be started in between (it would hold the write end open, and the
        // reader would never see the end).
        let (child, readEnd) = try Self.spawning.withLock { spawns throws(ChildProcessError) -> (pid_t, Int32) in
            spawns += 1
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            var pipeEnds: [Int32] = [-1, -1]
            if case .piped = output {
                guard pipe(&pipeEnds) == 0 else { throw ChildProcessError(message: "pipe failed: errno \(errno)") }
                _ = fcntl(pipeEnds[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(pipeEnds[1], F_SETFD, FD_CLOEXEC)
                posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)  // clears the flag on 1
            } else if case .discarded = output {
                posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            }
            if case .discarded = errors { posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0) }
            // Nothing else of the test process's (its Redis connections, sockets, files) goes
            // with the child: a connection a child still held would outlive its closing here.
            _ = Self.closeFrom?(&actions, 3)
            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            var child: pid_t = 0
            let result = posix_spawn(&child, executable, &actions, nil, argv, environ)
            if pipeEnds[1] >= 0 { close(pipeEnds[1]) }
            guard result == 0 else {
                if pipeEnds[0] >= 0 { close(pipeEnds[0]) }
                throw ChildProcessError(message: "cannot start \(executable): errno \(result)")
            }
            return (child, pipeEnds[0])
        }
        pid = child
        self.output = readEnd >= 0 ? FileHandle(fileDescriptor: readEnd, closeOnDealloc: true) : nil
    }

    /// Held while a child is spawned; the count of spawns is the value. (A `Lock<Void>` was
    /// not enough for ThreadSanitizer: the access to an empty value is not ordered after the
    /// lock's acquisition, and two spawns at once were reported as a race; see
    /// `RedisTLSSession.ssl`.)
    private static let spawning = Lock(0)

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), looked up at run
    /// time: Swift does not import it (it needs `_GNU_SOURCE`).
    private static let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// The exit status once the child has ended (128 + the signal when a signal ended it),
    /// `nil` while it runs. Reaps it.
    package var exitStatus: Int32? {
        status.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
            // WIFEXITED / WEXITSTATUS / WTERMSIG, spelled out: the C macros are not imported.
            let signal = raw & 0x7F
            status = signal == 0 ? (raw >> 8) & 0xFF : 128 + signal
            return status
        }
    }

    /// Whether the child is still running.
    package var isRunning: Bool { exitStatus == nil }

    /// Waits for the child to end by suspending (no cooperative thread is held); its status.
    @discardableResult
    package func exited() async throws -> Int32 {
        while true {
            if let exitStatus { return exitStatus }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Sends `signal` to the child (if it has not been reaped).
    package func send(_ signal: Int32) {
        status.withLock { if $0 == nil { _ = kill(pid, signal) } }
    }
}

/// A child process that could not be started.
package struct ChildProcessError: Error, CustomStringConvertible {
    package let message: String
    package var description: String { message }
}
