import CHiredisBaseline
import Foundation
import Strata
import StrataRedis

/// RedisStore beside raw hiredis and redis-benchmark, on a private redis-server:
/// sequential get and set (interleaved rounds), 64 concurrent tasks, and the coherence
/// figures of the invalidation bus beside CLIENT TRACKING.
nonisolated func redisBenchmarks(quick: Bool) async throws {
    heading("Redis: RedisStore beside raw blocking hiredis and redis-benchmark (loopback)")
    let (redis, raw, store, keys, value) = try await redisBenchmarkSetup(quick: quick)
    defer { redis.stop() }
    let report = Report.shared
    let group = "redis"

    // The miss path of a tiered store over Redis: a failed lookup in both tiers, the
    // computation, a write to both tiers; beside a raw GET that misses and a SET.
    let tiered = TieredStore(l1: MemoryStore(maxEntries: 10_000), l2: store)
    var missCounter = 0
    // 4,000 sequential calls a round (~0.4 s at ~100 µs each): 10,000 made the group 88 s.
    var rounds = InterleavedRounds(rounds: quick ? 2 : 7, operationsPerRound: min(keys.count, 4_000))
    for _ in 0..<rounds.rounds {
        await rounds.measure("raw hiredis GET miss + SET", keyCount: keys.count) { _ in
            missCounter += 1
            let key = "raw-miss:\(missCounter)"
            raw.command(["GET", key])
            raw.command(["SET", key, value])
        }
        try await rounds.measure("TieredStore getOrSet miss", keyCount: keys.count) { _ in
            missCounter += 1
            _ = try await tiered.getOrSet("miss:\(missCounter)", as: String.self) { value }
        }
        await rounds.measure("raw hiredis GET", keyCount: keys.count) { raw.command(["GET", keys[$0]]) }
        try await rounds.measure("RedisStore get", keyCount: keys.count) { _ = try await store.get(keys[$0], as: String.self) }
        await rounds.measure("raw hiredis SET", keyCount: keys.count) { raw.command(["SET", keys[$0], value]) }
        try await rounds.measure("RedisStore set", keyCount: keys.count) { try await store.set(keys[$0], value) }
    }
    report.record(group, "raw hiredis GET, sequential", rounds.median("raw hiredis GET"))
    report.compare(
        group, "RedisStore get, sequential (GET)", rounds.median("RedisStore get"),
        to: "raw hiredis GET, sequential", rounds.median("raw hiredis GET"))
    report.compare(
        group, "RedisStore set, sequential", rounds.median("RedisStore set"),
        to: "raw hiredis SET, sequential", rounds.median("raw hiredis SET"))
    report.compare(
        group, "TieredStore getOrSet miss (Redis L2), sequential", rounds.median("TieredStore getOrSet miss"),
        to: "raw hiredis GET miss + SET, sequential", rounds.median("raw hiredis GET miss + SET"))

    // Throughput with many callers: RedisStore pipelines whatever is waiting.
    let total = quick ? 20_000 : 200_000
    let storeCost = try await concurrentGetCost(store, keys: keys, total: total)
    let benchmarkRate = redisBenchmarkRate(port: redis.port, requests: total, core: nil)
    let statistics = store.statistics
    report.record(group, "redis-benchmark -c 50 -t get (wall-clock ns per GET)", 1e9 / max(benchmarkRate, 1))
    report.compare(
        group, "RedisStore get, 64 tasks (wall-clock ns per get)", storeCost,
        to: "redis-benchmark -c 50 -t get (wall-clock ns per GET)", 1e9 / max(benchmarkRate, 1),
        note: String(format: "%.1f commands per round trip", Double(statistics.commands) / Double(max(1, statistics.roundTrips))))
    try await coherenceBenchmarks(redis: redis, quick: quick)
    try await store.close()
}

/// A private redis-server, a raw hiredis connection and a RedisStore to it, and keys
/// already written with 64-byte values: what the Redis groups start from.
func redisBenchmarkSetup(quick: Bool) async throws -> (LocalRedis, RawRedis, RedisStore, [String], String) {
    let redis = try await LocalRedis()
    let store = try RedisStore(url: redis.url)
    let keys = (0..<(quick ? 1_000 : 10_000)).map { "user:\($0)" }
    let value = String(repeating: "v", count: 64)
    for key in keys { try await store.set(key, value) }
    return (redis, RawRedis(port: redis.port), store, keys, value)
}

/// Wall-clock nanoseconds per get when 64 tasks make `total` gets of `keys` together.
func concurrentGetCost(_ store: RedisStore, keys: [String], total: Int) async throws -> Double {
    let elapsed = try await ContinuousClock().measure {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<64 {
                group.addTask {
                    for index in stride(from: task, to: total, by: 64) {
                        _ = try await store.get(keys[index % keys.count], as: String.self)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
    return nanoseconds(elapsed) / Double(total)
}

/// How long another instance keeps a value after a write returns, and what announcing the
/// write costs; beside Redis's own CLIENT TRACKING (BCAST) on raw connections.
nonisolated func coherenceBenchmarks(redis: LocalRedis, quick: Bool) async throws {
    let report = Report.shared
    let clock = ContinuousClock()
    let redisA = try RedisStore(url: redis.url)
    let redisB = try RedisStore(url: redis.url)
    let busA = RedisInvalidationBus(redis: redisA)
    let busB = RedisInvalidationBus(redis: redisB)
    let cacheA = TieredStore(l1: MemoryStore(), l2: redisA, configuration: .init(invalidationPublisher: busA))
    let cacheB = TieredStore(l1: MemoryStore(), l2: redisB, configuration: .init(invalidationPublisher: busB))
    let subscriptions = [Task { try await busA.run(delivering: cacheA) }, Task { try await busB.run(delivering: cacheB) }]
    defer { subscriptions.forEach { $0.cancel() } }
    try await Task.sleep(for: .milliseconds(300))
    var windows: [Double] = []
    for trial in 0..<300 {
        let key = "coherence:\(trial % 10)"
        try await cacheA.set(key, trial)
        _ = try await cacheB.get(key, as: Int.self)  // B now holds a copy
        try await cacheA.set(key, trial + 1_000)
        let written = clock.now
        while try await cacheB.l1.has(key) { await Task.yield() }
        windows.append(nanoseconds(clock.now - written))
    }
    windows.sort()

    let plain = TieredStore(l1: MemoryStore(), l2: try RedisStore(url: redis.url))
    /// Sequential sets with the bus beside sets without it, interleaved: median ns per set.
    func setsWithAndWithoutBus() async throws -> (withBus: Double, withoutBus: Double) {
        var withBus: [Double] = [], withoutBus: [Double] = []
        for _ in 0..<5 {
            withBus.append(
                nanoseconds(try await clock.measure { for index in 0..<2_000 { try await cacheA.set("w\(index)", index) } }) / 2_000)
            withoutBus.append(
                nanoseconds(try await clock.measure { for index in 0..<2_000 { try await plain.set("w\(index)", index) } }) / 2_000)
        }
        return (median(withBus), median(withoutBus))
    }
    let bothSubscribed = try await setsWithAndWithoutBus()
    // What the figure above is made of. Each announcement reaches both subscriptions, which
    // share this process's 2 cores: the writer's own (read on the event loop and ignored,
    // as in production) and the other instance's (applied to its L1, on another machine in
    // production). Stopped one at a time: then the announcing alone.
    subscriptions[1].cancel()
    _ = await subscriptions[1].result
    let ownSubscriptionOnly = try await setsWithAndWithoutBus()
    subscriptions[0].cancel()
    _ = await subscriptions[0].result
    let noSubscription = try await setsWithAndWithoutBus()

    // Server-assisted invalidation: a subscriber, a tracking connection redirecting to it
    // (BCAST PREFIX), and a writer.
    let subscriber = RawRedis(port: redis.port), tracker = RawRedis(port: redis.port), writer = RawRedis(port: redis.port)
    let idReply = subscriber.run(["CLIENT", "ID"])!
    let subscriberID = idReply.pointee.integer
    freeReplyObject(idReply)
    subscriber.command(["SUBSCRIBE", "__redis__:invalidate"])
    tracker.command(["CLIENT", "TRACKING", "on", "REDIRECT", String(subscriberID), "BCAST", "PREFIX", "tracked:"])
    var trackingWindows: [Double] = []
    for trial in 0..<300 {
        writer.command(["SET", "tracked:\(trial % 10)", String(trial)])
        let written = clock.now
        var message: UnsafeMutableRawPointer?
        redisGetReply(subscriber.context, &message)  // the invalidation for that key
        trackingWindows.append(nanoseconds(clock.now - written))
        freeReplyObject(message)
    }
    trackingWindows.sort()

    report.record("coherence", "stale window after a write, median (invalidation bus)", windows[150])
    report.record("coherence", "stale window after a write, p99 (invalidation bus)", windows[297])
    report.record("coherence", "stale window after a write, median (CLIENT TRACKING BCAST, raw)", trackingWindows[150])
    report.compare(
        "coherence", "TieredStore.set with the invalidation bus", bothSubscribed.withBus,
        to: "TieredStore.set without it", bothSubscribed.withoutBus)
    report.compare(
        "coherence", "TieredStore.set with the invalidation bus, the writer's own subscription only",
        ownSubscriptionOnly.withBus, to: "TieredStore.set without it", ownSubscriptionOnly.withoutBus)
    report.compare(
        "coherence", "TieredStore.set with the invalidation bus, no subscription in the process",
        noSubscription.withBus, to: "TieredStore.set without it", noSubscription.withoutBus)
    try await plain.close()
    try await cacheA.close()
    try await cacheB.close()
}
