import CHiredisBaseline
import Foundation
import Strata
import StrataRedis

/// RedisStore beside blocking hiredis and redis-benchmark with the client and the server
/// pinned (sched_setaffinity): on one core, where every hand-off between threads is a
/// context switch on the server's core, and on two cores, where a hand-off is a wake-up on
/// the other core. Needs at least two cores; with one it records nothing.
nonisolated func redisPinnedBenchmarks(quick: Bool) async throws {
    heading("Redis, pinned: RedisStore beside blocking hiredis and redis-benchmark, client and server on one core and on two")
    guard ProcessInfo.processInfo.activeProcessorCount >= 2 else { return }
    let (redis, raw, store, keys, value) = try await redisBenchmarkSetup(quick: quick)
    defer { redis.stop() }
    let report = Report.shared
    let clientCore = 1
    // The floor of an asynchronous client: the task writes the commands the store sends
    // (GET; a DEL standing for the lease's, and SET) and suspends, and a thread of its own
    // waiting in poll() reads the replies and resumes it. No client that keeps the
    // cooperative pool free of blocking reads can do less. Made before the pinning, so that
    // their reading threads are pinned with the process.
    let floorGet = AsyncRawPipeline(port: redis.port, keys.map { [["GET", $0]] })
    let floorSet = AsyncRawPipeline(port: redis.port, keys.map { [["DEL", "strata:lease:" + $0], ["SET", $0, value]] })
    defer {
        floorGet.stop()
        floorSet.stop()
    }
    for (layout, serverCore) in [("same core", 1), ("two cores", 0)] {
        pin(process: getpid(), toCore: clientCore)
        pin(process: redis.processIdentifier, toCore: serverCore)
        try await Task.sleep(for: .milliseconds(50))
        let group = "redis-pinned"
        var rounds = InterleavedRounds(rounds: quick ? 2 : 7, operationsPerRound: quick ? 1_000 : 5_000)
        for _ in 0..<rounds.rounds {
            await rounds.measure("raw GET", keyCount: keys.count) { raw.command(["GET", keys[$0]]) }
            try await rounds.measure("store get", keyCount: keys.count) { _ = try await store.get(keys[$0], as: String.self) }
            await rounds.measure("async GET", keyCount: keys.count) { _ = await floorGet.run($0) }
            await rounds.measure("raw SET", keyCount: keys.count) { raw.command(["SET", keys[$0], value]) }
            try await rounds.measure("store set", keyCount: keys.count) { try await store.set(keys[$0], value) }
            await rounds.measure("async SET", keyCount: keys.count) { _ = await floorSet.run($0) }
        }
        report.compare(
            group, "RedisStore get, sequential (\(layout))", rounds.median("store get"),
            to: "blocking hiredis GET (\(layout))", rounds.median("raw GET"))
        report.compare(
            group, "RedisStore set, sequential (\(layout))", rounds.median("store set"),
            to: "blocking hiredis SET (\(layout))", rounds.median("raw SET"))
        report.compare(
            group, "asynchronous floor: GET written by the task, replies read by a polling thread (\(layout))",
            rounds.median("async GET"), to: "blocking hiredis GET (\(layout))", rounds.median("raw GET"))
        report.compare(
            group, "asynchronous floor: DEL of the lease + SET written by the task, replies read by a polling thread (\(layout))",
            rounds.median("async SET"), to: "blocking hiredis SET (\(layout))", rounds.median("raw SET"))
        report.compare(
            group, "RedisStore get, sequential, against the asynchronous floor (\(layout))", rounds.median("store get"),
            to: "asynchronous floor, GET (\(layout))", rounds.median("async GET"))
        report.compare(
            group, "RedisStore set, sequential, against the asynchronous floor (\(layout))", rounds.median("store set"),
            to: "asynchronous floor, DEL + SET (\(layout))", rounds.median("async SET"))

        // The floor under any call that suspends: a task resumed by another thread, beside
        // two threads that block in turn (no Redis in either), on the same layout.
        let floor = await handOffRoundTrips(count: quick ? 2_000 : 20_000)
        report.compare(
            group, "task resumed by another thread, round trip (\(layout))", floor.task,
            to: "two blocking threads, round trip (\(layout))", floor.threads)

        let total = quick ? 20_000 : 200_000
        let before = store.statistics
        let cost = try await concurrentGetCost(store, keys: keys, total: total)
        let after = store.statistics
        let depth = Double(after.commands - before.commands) / Double(max(1, after.roundTrips - before.roundTrips))
        let benchmarkCost = 1e9 / redisBenchmarkRate(port: redis.port, requests: total, core: clientCore)
        // A cost ratio like every other figure: below 0.5x is "twice the throughput".
        report.compare(
            group, "RedisStore get, 64 tasks, ns per get (\(layout))", cost,
            to: "redis-benchmark -c 50 -t get, ns per GET (\(layout))", benchmarkCost,
            note: String(format: "%.1f commands per write (auto-pipelining depth)", depth))
    }
    try await store.close()
    pin(process: getpid(), toCore: nil)  // the groups after this one run unpinned
}

/// Round trips through pipes, in nanoseconds: a task that writes and suspends until a
/// thread blocked in `read` resumes it (the shape of every RedisStore call), and a thread
/// that writes and blocks in `read` until another answers (the shape of a blocking hiredis
/// call). The partner works 30 µs before answering, as a server would: long enough for
/// the waiting thread to go to sleep, so each variant pays the wake-ups it really needs.
func handOffRoundTrips(count: Int) async -> (task: Double, threads: Double) {
    final class Channel: @unchecked Sendable {  // the continuation is handed over under `lock`
        var request: [Int32] = [0, 0], reply: [Int32] = [0, 0]
        let lock = NSLock()
        var waiting: CheckedContinuation<Void, Never>?
        init() {
            pipe(&request)
            pipe(&reply)
        }
    }
    let taskSide = Channel(), threadSide = Channel()
    @Sendable func serve() {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .microseconds(30) {}
    }
    // The task's partner: wakes on the request pipe and resumes the waiting task.
    Thread.detachNewThread {
        var byte: UInt8 = 0
        while read(taskSide.request[0], &byte, 1) == 1, byte == 1 {
            serve()
            taskSide.lock.lock()
            let waiting = taskSide.waiting
            taskSide.waiting = nil
            taskSide.lock.unlock()
            waiting?.resume()
        }
    }
    // The blocking thread's partner: answers each request on the reply pipe.
    Thread.detachNewThread {
        var byte: UInt8 = 0
        while read(threadSide.request[0], &byte, 1) == 1, byte == 1 {
            serve()
            _ = write(threadSide.reply[1], &byte, 1)
        }
    }
    let clock = ContinuousClock()
    let task = await clock.measure {
        for _ in 0..<count {
            await withCheckedContinuation { continuation in
                taskSide.lock.lock()
                taskSide.waiting = continuation
                taskSide.lock.unlock()
                var byte: UInt8 = 1
                _ = write(taskSide.request[1], &byte, 1)
            }
        }
    }
    let threads = await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            var byte: UInt8 = 1
            let elapsed = clock.measure {
                for _ in 0..<count {
                    _ = write(threadSide.request[1], &byte, 1)
                    _ = read(threadSide.reply[0], &byte, 1)
                }
            }
            continuation.resume(returning: elapsed)
        }
    }
    var stop: UInt8 = 0
    for channel in [taskSide, threadSide] {
        _ = write(channel.request[1], &stop, 1)
    }
    return (nanoseconds(task) / Double(count), nanoseconds(threads) / Double(count))
}

/// GETs per second that `redis-benchmark -c 50 -t get` reaches, pinned to `core` if given.
func redisBenchmarkRate(port: Int, requests: Int, core: Int?) -> Double {
    let benchmark = Process()
    benchmark.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
    benchmark.arguments = [
        "-c", core.map(String.init) ?? "0-\(ProcessInfo.processInfo.activeProcessorCount - 1)",
        "/usr/bin/redis-benchmark",
        "-h", "127.0.0.1", "-p", String(port), "-c", "50", "-t", "get", "-n", String(requests), "-q",
    ]
    let output = Pipe()
    benchmark.standardOutput = output
    guard (try? benchmark.run()) != nil else { return 1 }
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    benchmark.waitUntilExit()
    let line = text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).last(where: { $0.contains("requests per second") }) ?? ""
    return max(1, Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0)
}

/// Pins every thread of `process` to `core` (threads it starts later inherit it), with
/// `taskset -a -p`; whether `taskset` said it did.
@discardableResult
func pin(process: pid_t, toCore core: Int?) -> Bool {
    let taskset = Process()
    taskset.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
    let cores = core.map(String.init) ?? "0-\(ProcessInfo.processInfo.activeProcessorCount - 1)"
    taskset.arguments = ["-a", "-p", "-c", cores, String(process)]
    taskset.standardOutput = FileHandle.nullDevice
    guard (try? taskset.run()) != nil else { return false }
    taskset.waitUntilExit()
    return taskset.terminationStatus == 0
}
