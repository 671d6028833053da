// RedisStore against raw hiredis calls and redis-benchmark, on one local redis-server
// that this program starts (loopback TCP) and stops.
//
// - Sequential get and set: RedisStore (a get is GET + PTTL in one round trip) against
//   raw blocking hiredis GET and SET on one connection, interleaved: 7 rounds of 10,000.
// - Concurrency: 64 tasks doing 200,000 gets through RedisStore, against
//   `redis-benchmark -c 50 -t get -n 200000` (50 connections, no pipelining).
//
// - Coherence: two TieredStores with their own L1s over this Redis, each with a
//   RedisInvalidationBus; after A's `set` returns, how long B still holds the old copy.
//
//   swift run -c release redis-interleaved
import CHiredisBaseline
import Foundation
import Strata
import StrataRedis

nonisolated func measure() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-bench-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let port = Int.random(in: 20_000...40_000)
    let server = Process()
    server.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
    server.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory]
    server.standardOutput = FileHandle.nullDevice
    try server.run()
    defer {
        kill(server.processIdentifier, SIGKILL)  // nothing to save; do not leave it running
        server.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
    try await Task.sleep(for: .milliseconds(300))

    guard let raw = redisConnect("127.0.0.1", Int32(port)), raw.pointee.err == 0 else { fatalError("cannot connect") }
    defer { redisFree(raw) }
    func rawCommand(_ arguments: [String]) {
        var pointers = arguments.map { UnsafePointer(strdup($0)) }
        var lengths = arguments.map { $0.utf8.count }
        defer { pointers.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
        let reply = pointers.withUnsafeMutableBufferPointer { argv in
            argv.withMemoryRebound(to: UnsafePointer<CChar>?.self) { argv in
                redisCommandArgv(raw, Int32(arguments.count), argv.baseAddress, &lengths)
            }
        }
        freeReplyObject(reply)
    }

    let store = try RedisStore(url: "redis://127.0.0.1:\(port)")
    let keys = (0..<10_000).map { "user:\($0)" }
    let value = String(repeating: "v", count: 64)
    for key in keys { try await store.set(key, value) }

    var results: [String: [Duration]] = [:]
    let clock = ContinuousClock()
    for _ in 0..<7 {
        results["raw hiredis GET", default: []].append(clock.measure { for key in keys { rawCommand(["GET", key]) } } / keys.count)
        results["RedisStore get", default: []].append(try await clock.measure {
            for key in keys { _ = try await store.get(key, as: String.self) }
        } / keys.count)
        results["raw hiredis SET", default: []].append(clock.measure { for key in keys { rawCommand(["SET", key, value]) } } / keys.count)
        results["RedisStore set", default: []].append(try await clock.measure {
            for key in keys { try await store.set(key, value) }
        } / keys.count)
    }
    func microseconds(_ name: String) -> Double {
        let sorted = results[name]!.sorted()
        let median = sorted[sorted.count / 2]
        return Double(median.components.seconds) * 1e6 + Double(median.components.attoseconds) / 1e12
    }
    for name in ["raw hiredis GET", "RedisStore get", "raw hiredis SET", "RedisStore set"] {
        print(name.padding(toLength: 20, withPad: " ", startingAt: 0), String(format: "median %6.1f µs", microseconds(name)))
    }
    print(String(format: "sequential get: %.2fx raw, set: %.2fx raw",
                 microseconds("RedisStore get") / microseconds("raw hiredis GET"),
                 microseconds("RedisStore set") / microseconds("raw hiredis SET")))

    let total = 200_000
    let start = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for task in 0..<64 {
            group.addTask {
                for index in stride(from: task, to: total, by: 64) { _ = try await store.get(keys[index % keys.count], as: String.self) }
            }
        }
        try await group.waitForAll()
    }
    let elapsed = clock.now - start
    let storeRate = Double(total) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    let stats = store.statistics
    print(String(format: "RedisStore, 64 tasks: %.0f gets/s (%.1f commands per round trip overall)",
                 storeRate, Double(stats.commands) / Double(max(1, stats.roundTrips))))

    let benchmark = Process()
    benchmark.executableURL = URL(fileURLWithPath: "/usr/bin/redis-benchmark")
    benchmark.arguments = ["-h", "127.0.0.1", "-p", String(port), "-c", "50", "-t", "get", "-n", String(total), "-q"]
    let output = Pipe()
    benchmark.standardOutput = output
    try benchmark.run()
    benchmark.waitUntilExit()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let line = text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).last(where: { $0.contains("requests per second") }) ?? ""
    let benchmarkRate = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    print("redis-benchmark -c 50 -t get: \(line.trimmingCharacters(in: .whitespaces))")
    print(String(format: "concurrent throughput: %.2fx redis-benchmark", storeRate / max(benchmarkRate, 1)))

    // Coherence: the window in which B still holds a value A has replaced.
    let redisA = try RedisStore(url: "redis://127.0.0.1:\(port)")
    let redisB = try RedisStore(url: "redis://127.0.0.1:\(port)")
    let busA = RedisInvalidationBus(redis: redisA)
    let busB = RedisInvalidationBus(redis: redisB)
    let cacheA = TieredStore(l1: MemoryStore(), l2: redisA, configuration: .init(invalidationPublisher: busA))
    let cacheB = TieredStore(l1: MemoryStore(), l2: redisB, configuration: .init(invalidationPublisher: busB))
    let subscriptions = [Task { try await busA.run(delivering: cacheA) }, Task { try await busB.run(delivering: cacheB) }]
    defer { subscriptions.forEach { $0.cancel() } }
    try await Task.sleep(for: .milliseconds(300))
    var windows: [Duration] = []
    for trial in 0..<300 {
        let key = "coherence:\(trial % 10)"
        try await cacheA.set(key, trial)
        _ = try await cacheB.get(key, as: Int.self)  // B now holds a copy
        try await cacheA.set(key, trial + 1_000)
        let written = clock.now
        while try await cacheB.l1.has(key) {}
        windows.append(clock.now - written)
    }
    windows.sort()
    func ms(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
    }
    print(String(format: "stale window after a write (300 trials): median %.3f ms, p99 %.3f ms, max %.3f ms",
                 ms(windows[150]), ms(windows[297]), ms(windows[299])))

    // What announcing costs a write: TieredStore.set with and without the bus, interleaved.
    let plain = TieredStore(l1: MemoryStore(), l2: try RedisStore(url: "redis://127.0.0.1:\(port)"))
    var withBus: [Duration] = [], withoutBus: [Duration] = []
    for _ in 0..<5 {
        withBus.append(try await clock.measure { for index in 0..<2_000 { try await cacheA.set("w\(index)", index) } } / 2_000)
        withoutBus.append(try await clock.measure { for index in 0..<2_000 { try await plain.set("w\(index)", index) } } / 2_000)
    }
    withBus.sort()
    withoutBus.sort()
    print(String(format: "TieredStore.set: %.1f µs with the bus (SET, then PUBLISH), %.1f µs without",
                 ms(withBus[2]) * 1_000, ms(withoutBus[2]) * 1_000))

    // The alternative: server-assisted invalidation. A subscriber connection, a tracking
    // connection redirecting its invalidations to it (BCAST PREFIX), and a writer.
    func connect() -> UnsafeMutablePointer<redisContext> { redisConnect("127.0.0.1", Int32(port))! }
    func run(_ context: UnsafeMutablePointer<redisContext>, _ arguments: [String]) -> UnsafeMutablePointer<redisReply>? {
        var pointers = arguments.map { UnsafePointer(strdup($0)) }
        var lengths = arguments.map { $0.utf8.count }
        defer { pointers.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
        return pointers.withUnsafeMutableBufferPointer { argv in
            argv.withMemoryRebound(to: UnsafePointer<CChar>?.self) { argv in
                redisCommandArgv(context, Int32(arguments.count), argv.baseAddress, &lengths)?
                    .assumingMemoryBound(to: redisReply.self)
            }
        }
    }
    let subscriber = connect(), tracker = connect(), writer = connect()
    defer { [subscriber, tracker, writer].forEach { redisFree($0) } }
    let idReply = run(subscriber, ["CLIENT", "ID"])!
    let subscriberID = idReply.pointee.integer
    freeReplyObject(idReply)
    freeReplyObject(run(subscriber, ["SUBSCRIBE", "__redis__:invalidate"]))
    freeReplyObject(run(tracker, ["CLIENT", "TRACKING", "on", "REDIRECT", String(subscriberID), "BCAST", "PREFIX", "tracked:"]))
    var trackingWindows: [Duration] = []
    var writeCost: [Duration] = []
    for trial in 0..<300 {
        let started = clock.now
        freeReplyObject(run(writer, ["SET", "tracked:\(trial % 10)", String(trial)]))
        let written = clock.now
        writeCost.append(written - started)
        var message: UnsafeMutableRawPointer?
        redisGetReply(subscriber, &message)  // the invalidation for that key
        trackingWindows.append(clock.now - written)
        freeReplyObject(message)
    }
    trackingWindows.sort()
    writeCost.sort()
    print(String(format: "CLIENT TRACKING BCAST: invalidation arrives median %.3f ms, p99 %.3f ms after SET returns; SET alone %.1f µs",
                 ms(trackingWindows[150]), ms(trackingWindows[297]), ms(writeCost[150]) * 1_000))
}

try await measure()
