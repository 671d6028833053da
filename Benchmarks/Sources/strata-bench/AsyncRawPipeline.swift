import CHiredisBaseline
import Foundation

/// The least an asynchronous client can do for one pipelined batch, as a floor for
/// RedisStore's: the calling task writes the batch's bytes (encoded ahead) to the socket and
/// suspends; a thread of its own, waiting in `poll()`, reads the replies, parses them with
/// hiredis's reader and resumes the task. Beside a blocking client (``RawPipeline``), whose
/// caller's thread sleeps in `read()` and is woken by the reply, it pays what every
/// event-loop client pays: the reply wakes the polling thread, which wakes the task's.
final class AsyncRawPipeline: @unchecked Sendable {  // `waiting` under `lock`; the rest set once
    private let context: UnsafeMutablePointer<redisContext>  // only for its connection
    private let batches: [(bytes: [UInt8], commands: Int)]
    private let lock = NSLock()
    private var waiting: (continuation: CheckedContinuation<Int, Never>, expected: Int)?
    private let finished = DispatchSemaphore(value: 0)
    /// Whether a reply's found values are the string items of its array (a script's answer).
    private let countingArrayItems: Bool

    init(port: Int, _ batches: [[[String]]], countingArrayItems: Bool = false) {
        self.countingArrayItems = countingArrayItems
        context = redisConnect("127.0.0.1", Int32(port))!
        if context.pointee.err != 0 { fatalError("the async raw pipeline could not connect to port \(port)") }
        self.batches = batches.map { commands in
            var bytes: [UInt8] = []
            for arguments in commands {
                bytes += Array("*\(arguments.count)\r\n".utf8)
                for argument in arguments { bytes += Array("$\(argument.utf8.count)\r\n\(argument)\r\n".utf8) }
            }
            return (bytes, commands.count)
        }
        let descriptor = context.pointee.fd
        let thread = Thread { [self] in
            readReplies(descriptor)
            finished.signal()
        }
        thread.start()
    }

    /// Closes the connection once the reading thread has left.
    func stop() {
        shutdown(context.pointee.fd, Int32(SHUT_RDWR))
        finished.wait()
        redisFree(context)
    }

    /// Sends batch `index` and waits for its replies; how many were strings (found).
    func run(_ index: Int) async -> Int {
        let batch = batches[index]
        return await withCheckedContinuation { continuation in
            lock.lock()
            waiting = (continuation, batch.commands)
            lock.unlock()
            batch.bytes.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = write(context.pointee.fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else { fatalError("the async raw pipeline's write failed: errno \(errno)") }
                    offset += written
                }
            }
        }
    }

    /// The reading thread: replies parsed as they arrive; a batch's last resumes its caller.
    private func readReplies(_ descriptor: Int32) {
        let reader = redisReaderCreate()!
        defer {
            redisReaderFree(reader)
            // A batch still waiting would wait for ever: the benchmark stops here instead.
            lock.lock()
            let stranded = waiting != nil
            lock.unlock()
            if stranded { fatalError("the async raw pipeline's connection ended before a batch's replies") }
        }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var received = 0
        var found = 0
        while true {
            var watched = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&watched, 1, -1) >= 0 || errno == EINTR else { return }
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
            guard count > 0 else { return }  // shut down
            buffer.withUnsafeBytes { _ = redisReaderFeed(reader, $0.baseAddress!.assumingMemoryBound(to: CChar.self), count) }
            while true {
                var reply: UnsafeMutableRawPointer?
                guard redisReaderGetReply(reader, &reply) == REDIS_OK else { fatalError("a reply the async raw pipeline cannot parse") }
                guard let reply else { break }
                let answer = reply.assumingMemoryBound(to: redisReply.self).pointee
                if answer.type == REDIS_REPLY_STRING { found += 1 }
                if countingArrayItems, answer.type == REDIS_REPLY_ARRAY {
                    for item in 0..<answer.elements where answer.element[item]!.pointee.type == REDIS_REPLY_STRING { found += 1 }
                }
                freeReplyObject(reply)
                received += 1
                lock.lock()
                let done = waiting.flatMap { received == $0.expected ? $0.continuation : nil }
                if done != nil { waiting = nil }
                lock.unlock()
                if let done {
                    done.resume(returning: found)
                    received = 0
                    found = 0
                }
            }
        }
    }
}
