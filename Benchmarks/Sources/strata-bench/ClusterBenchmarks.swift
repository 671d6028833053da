import CHiredisBaseline
import Foundation
import Strata
import StrataRedis

/// RedisStore on a local Redis Cluster (three primaries, three replicas) beside
/// RedisStore on one server, in the same run: sequential get and set, 64 tasks, and what a
/// `MOVED` costs (the redirected call, with the slot map read again).
nonisolated func clusterBenchmarks(quick: Bool) async throws {
    heading("Redis Cluster: RedisStore(cluster:) beside RedisStore on one server (loopback)")
    let single = try await LocalRedis()
    var nodes: [LocalRedis] = []
    for _ in 0..<6 {
        nodes.append(
            try await LocalRedis(extraArguments: [
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
            ]))
    }
    defer { (nodes + [single]).forEach { $0.stop() } }
    let create = Process()
    create.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
    create.arguments = ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "1", "--cluster-yes"]
    create.standardOutput = FileHandle.nullDevice
    try create.run()
    create.waitUntilExit()
    let probe = RawRedis(port: nodes[0].port)
    while true {  // until the cluster says it is up
        let reply = probe.run(["CLUSTER", "INFO"])!
        let ok = String(cString: reply.pointee.str).contains("cluster_state:ok")
        freeReplyObject(reply)
        if ok { break }
        try await Task.sleep(for: .milliseconds(100))
    }

    let server = try RedisStore(url: single.url)
    let cluster = try RedisStore(cluster: nodes.map(\.url))
    let keys = (0..<(quick ? 1_000 : 10_000)).map { "user:\($0)" }
    let value = String(repeating: "v", count: 64)
    for key in keys {
        try await server.set(key, value)
        try await cluster.set(key, value)
    }
    let report = Report.shared
    let group = "cluster"
    var rounds = InterleavedRounds(rounds: quick ? 2 : 7, operationsPerRound: quick ? 1_000 : 5_000)
    for _ in 0..<rounds.rounds {
        try await rounds.measure("server get", keyCount: keys.count) { _ = try await server.get(keys[$0], as: String.self) }
        try await rounds.measure("cluster get", keyCount: keys.count) { _ = try await cluster.get(keys[$0], as: String.self) }
        try await rounds.measure("server set", keyCount: keys.count) { try await server.set(keys[$0], value) }
        try await rounds.measure("cluster set", keyCount: keys.count) { try await cluster.set(keys[$0], value) }
    }
    report.compare(
        group, "RedisStore(cluster:) get, sequential", rounds.median("cluster get"),
        to: "RedisStore get on one server, sequential", rounds.median("server get"))
    report.compare(
        group, "RedisStore(cluster:) set, sequential", rounds.median("cluster set"),
        to: "RedisStore set on one server, sequential", rounds.median("server set"))

    // Listings and clears, which visit every primary on a cluster: keys(prefix:) and the raw
    // storedEntries(prefix:) of the keys under "user:1" (1,111 of 10,000), clear(prefix:) of 1,000.
    let listed = keys.filter { $0.hasPrefix("user:1") }.count
    var listing: [String: [Double]] = [:]
    let clock = ContinuousClock()
    let cleared = (0..<1_000).map { "c:\($0)" }
    for _ in 0..<7 {
        for (name, store) in [("server", server), ("cluster", cluster)] {
            listing["\(name) keys", default: []].append(nanoseconds(try await clock.measure { _ = try await store.keys(prefix: "user:1") }))
            listing["\(name) entries", default: []].append(
                nanoseconds(try await clock.measure { _ = try await store.storedEntries(prefix: "user:1") }))
            for key in cleared { try await store.set(key, value) }
            listing["\(name) clear", default: []].append(nanoseconds(try await clock.measure { _ = try await store.clear(prefix: "c:") }))
        }
    }
    for (kind, call) in [
        ("keys", "keys(prefix:) of \(listed.formatted()) keys"), ("entries", "storedEntries(prefix:) of \(listed.formatted()) keys"),
        ("clear", "clear(prefix:) of 1,000 keys"),
    ] {
        report.compare(
            group, "RedisStore(cluster:) \(call)", median(listing["cluster \(kind)"]!), to: "RedisStore \(call) on one server",
            median(listing["server \(kind)"]!))
    }

    let total = quick ? 20_000 : 200_000
    report.compare(
        group, "RedisStore(cluster:) get, 64 tasks (wall-clock ns per get)", try await concurrentGetCost(cluster, keys: keys, total: total),
        to: "RedisStore get on one server, 64 tasks", try await concurrentGetCost(server, keys: keys, total: total))

    // MOVED: move one slot holding one key to another primary (redis-cli's reshard of one
    // slot), then time the first get of that key (MOVED, the retry, the map read again in
    // the background) beside the next one.
    var redirected: [Double] = [], direct: [Double] = []
    let slotsOf = RawRedis(port: nodes[0].port)
    for trial in 0..<(quick ? 2 : 5) {
        let key = "moved:\(trial)"
        try await cluster.set(key, value)
        let slotReply = slotsOf.run(["CLUSTER", "KEYSLOT", key])!
        let slot = Int(slotReply.pointee.integer)
        freeReplyObject(slotReply)
        try moveSlot(slot, nodes: nodes)
        let clock = ContinuousClock()
        redirected.append(nanoseconds(try await clock.measure { _ = try await cluster.get(key, as: String.self) }))
        try await Task.sleep(for: .milliseconds(50))  // the background refresh is done
        for _ in 0..<8 {  // every pooled connection to the new owner is open
            direct.append(nanoseconds(try await clock.measure { _ = try await cluster.get(key, as: String.self) }))
        }
    }
    report.compare(
        group, "get after its slot moved (MOVED, retry)", median(redirected),
        to: "the next gets of the same key", median(direct))
    try pubSubFigures(nodes: nodes, quick: quick)
    try await shardedBusFigures(nodes: nodes, quick: quick)
    try await server.close()
    try await cluster.close()
}

/// How the invalidation bus's messages travel on a cluster: classic `PUBLISH` (what the
/// bus sends: the cluster forwards each message to every node) beside sharded `SPUBLISH`
/// (only the nodes of the channel's shard), as the time from publishing a message to a
/// subscriber reading it. The `PUBLISH` subscriber sits on another primary than the
/// publisher (the bus subscribes on whichever node answers); the `SPUBLISH` subscriber
/// on the channel's own primary, as sharded pub/sub requires.
private func pubSubFigures(nodes: [LocalRedis], quick: Bool) throws {
    let channel = "strata:invalidations:"
    let connections = nodes.map { RawRedis(port: $0.port) }
    // The channel's primary: the one that takes SPUBLISH without a MOVED.
    var owner: RawRedis?, other: RawRedis?
    for redis in connections {
        guard let role = redis.run(["ROLE"]) else { continue }
        let isPrimary = String(cString: role.pointee.element[0]!.pointee.str) == "master"
        freeReplyObject(role)
        guard isPrimary, let reply = redis.run(["SPUBLISH", channel, "probe"]) else { continue }
        let moved = reply.pointee.type == REDIS_REPLY_ERROR
        freeReplyObject(reply)
        if !moved { owner = owner ?? redis } else { other = other ?? redis }
    }
    guard let owner, let other else { return }
    let classicSubscriber = RawRedis(port: nodes[connections.firstIndex { $0 === other }!].port)
    let shardedSubscriber = RawRedis(port: nodes[connections.firstIndex { $0 === owner }!].port)
    classicSubscriber.command(["SUBSCRIBE", channel])
    shardedSubscriber.command(["SSUBSCRIBE", channel])
    func delivery(_ publisher: RawRedis, _ command: String, _ subscriber: RawRedis) -> Double {
        var samples: [Double] = []
        let clock = ContinuousClock()
        for trial in 0..<(quick ? 50 : 500) {
            let start = clock.now
            publisher.command([command, channel, "message \(trial)"])
            var message: UnsafeMutableRawPointer?
            redisGetReply(subscriber.context, &message)
            samples.append(nanoseconds(clock.now - start))
            freeReplyObject(message)
        }
        return median(samples)
    }
    var classic: [Double] = [], sharded: [Double] = []
    for _ in 0..<3 {
        classic.append(delivery(owner, "PUBLISH", classicSubscriber))
        sharded.append(delivery(owner, "SPUBLISH", shardedSubscriber))
    }
    Report.shared.compare(
        "cluster", "bus message published to a subscriber on another node (PUBLISH)", median(classic),
        to: "the same to a subscriber on the channel's shard (SPUBLISH)", median(sharded))
}

/// Moves `slot` from its primary to another with `redis-cli --cluster reshard`-like steps:
/// SETSLOT IMPORTING/MIGRATING, MIGRATE of its keys, SETSLOT NODE on both.
private func moveSlot(_ slot: Int, nodes: [LocalRedis]) throws {
    let connections = nodes.map { RawRedis(port: $0.port) }
    func text(_ redis: RawRedis, _ arguments: [String]) -> String {
        guard let reply = redis.run(arguments) else { return "" }
        defer { freeReplyObject(reply) }
        return reply.pointee.str.map { String(cString: $0) } ?? ""
    }
    var owner: RawRedis?
    var ownerID = ""
    var target: RawRedis?
    var targetID = ""
    var targetPort = 0
    for (index, redis) in connections.enumerated() {
        let nodesText = text(redis, ["CLUSTER", "NODES"])
        guard let myself = nodesText.split(separator: "\n").first(where: { $0.contains("myself") }), myself.contains("master") else {
            continue
        }
        let id = String(myself.split(separator: " ")[0])
        let owns = myself.split(separator: " ").dropFirst(8).contains { range in
            let bounds = range.split(separator: "-").compactMap { Int($0) }
            return bounds.count == 2 ? (bounds[0]...bounds[1]).contains(slot) : bounds.first == slot
        }
        if owns { (owner, ownerID) = (redis, id) } else if target == nil { (target, targetID, targetPort) = (redis, id, nodes[index].port) }
    }
    guard let owner, let target else { return }
    _ = text(target, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", ownerID])
    _ = text(owner, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID])
    while true {
        guard let reply = owner.run(["CLUSTER", "GETKEYSINSLOT", String(slot), "100"]) else { break }
        let keys = (0..<reply.pointee.elements).map { String(cString: reply.pointee.element[$0]!.pointee.str) }
        freeReplyObject(reply)
        if keys.isEmpty { break }
        owner.command(["MIGRATE", "127.0.0.1", String(targetPort), "", "0", "5000", "KEYS"] + keys)
    }
    for redis in connections { _ = text(redis, ["CLUSTER", "SETSLOT", String(slot), "NODE", targetID]) }
}
