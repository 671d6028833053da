import CHiredisBaseline
import Foundation
import Strata
import StrataRedis

/// 100 keys read at once from a private redis-server: RedisStore's bulk read (one script:
/// MGET, then PTTL of each key found) beside one raw hiredis pipeline of the same 100 GETs, and
/// beside 100 sequential single-key gets; interleaved rounds, the same batches of keys. Two
/// floors beside them, for what is left to RedisStore: the same GETs through the least an
/// asynchronous client does (``AsyncRawPipeline``), and the same script through it. The typed
/// bulk get reads values alone (`MULTI`, `MGET`, `EXISTS`, `EXEC`, `DISCARD`): beside it, one raw `MGET`
/// of the batch and the same transaction handed off; and the same read of batches with 10 of
/// their 100 keys missing, beside the raw `GET`s of those batches.
nonisolated func redisBulkBenchmarks(quick: Bool) async throws {
    heading("Redis bulk: 100 keys in one call beside one raw pipelined hiredis batch and 100 single gets (loopback)")
    let (redis, raw, store, keys, _) = try await redisBenchmarkSetup(quick: quick)
    defer { redis.stop() }
    let report = Report.shared
    let group = "redis-bulk"
    let batchSize = 100

    // Batches of 100 distinct keys in a random order, the same for every contender.
    var generator = TraceRandom(seed: 104_729)
    let batches: [[String]] = (0..<64).map { _ in
        var picked = Set<Int>()
        while picked.count < batchSize { picked.insert(Int(truncatingIfNeeded: generator.next() >> 1) % keys.count) }
        return picked.map { keys[$0] }
    }
    let pipelined = RawPipeline(raw, batches.map { batch in batch.map { ["GET", $0] } })
    // What the typed bulk get asks of the server (values alone), in one raw command.
    let multiGet = RawPipeline(raw, batches.map { batch in [["MGET"] + batch] })
    // What a read without a script sends (a single read's commands, the remaining lifetime beside the value).
    let pipelinedWithLifetimes = RawPipeline(raw, batches.map { batch in batch.flatMap { [["GET", $0], ["PTTL", $0]] } })
    // The same GETs through the least an asynchronous client does: the floor of any event loop.
    let handedOff = AsyncRawPipeline(port: redis.port, batches.map { batch in batch.map { ["GET", $0] } })
    defer { handedOff.stop() }
    // The server's work of a bulk read with lifetimes (a script: MGET, then PTTL of each key
    // found), through the same raw client: what is left beside it is RedisStore's own. Where
    // RedisStore's script reads a key MGET did not find with `GET` (to tell a key of another
    // type), this one answers nothing: the same work here, where every key exists.
    let script =
        "local v = redis.call('MGET', unpack(KEYS)) local a = {} for i, k in ipairs(KEYS) do a[2 * i - 1] = v[i] or false a[2 * i] = v[i] and redis.call('PTTL', k) or -2 end return a"
    guard
        let scriptHash = raw.run(["SCRIPT", "LOAD", script]).flatMap({ reply in
            defer { freeReplyObject(reply) }
            return reply.pointee.type == REDIS_REPLY_STRING ? String(cString: reply.pointee.str) : nil
        })
    else { throw BenchmarkError(message: "SCRIPT LOAD of the floor's script failed") }
    // What the typed bulk get asks of the server (values alone), through the same client.
    let transaction = AsyncRawPipeline(
        port: redis.port, batches.map { batch in [["MULTI"], ["MGET"] + batch, ["EXISTS"] + batch, ["EXEC"], ["DISCARD"]] },
        countingArrayItems: true)
    defer { transaction.stop() }
    // Batches with 10 keys missing of 100: a bulk read of a cache that misses some.
    let partial = batches.enumerated().map { index, batch in
        batch.enumerated().map { $0.offset < 10 ? "absent:\(index):\($0.offset)" : $0.element }
    }
    let pipelinedPartial = RawPipeline(raw, partial.map { batch in batch.map { ["GET", $0] } })
    let scripted = AsyncRawPipeline(
        port: redis.port, batches.map { batch in [["EVALSHA", scriptHash, String(batch.count)] + batch] }, countingArrayItems: true)
    defer { scripted.stop() }

    // The client on one core and the server on the other, as redis-pinned's "two cores": left
    // to the scheduler, the blocking baseline moved between about 60 and 95 µs from one
    // position in a round to the next (a wake-up on the same core, or on the other).
    let pinned =
        ProcessInfo.processInfo.activeProcessorCount >= 2 && pin(process: getpid(), toCore: 1)
        && pin(process: redis.processIdentifier, toCore: 0)
    if pinned { try await Task.sleep(for: .milliseconds(50)) } else { pin(process: getpid(), toCore: nil) }  // not half pinned
    defer { pin(process: getpid(), toCore: nil) }  // the groups after this one run unpinned
    let layout = pinned ? "client and server pinned to one core each" : "not pinned (one core, or taskset failed)"
    // 21 rounds of 100 batches: with 7 of 200, one round's figure moved between about 120 and
    // 200 µs for the same raw batch (the machine, from one 30 ms stretch to the next), and the
    // median of seven put the typed bulk read anywhere from 1.2x to 1.7x the raw batch from
    // one run to the next (2026-12-06). With 21: four runs by hand of a build since taken
    // back gave 1.11x–1.20x, and the recorded runs of 13:00 and 13:11 UTC 1.23x and 1.22x.
    var rounds = InterleavedRounds(rounds: quick ? 2 : 21, operationsPerRound: quick ? 20 : 100)
    var found = 0
    for _ in 0..<rounds.rounds {
        await rounds.measure("raw", keyCount: batches.count) { found &+= pipelined.run($0) }
        await rounds.measure("raw with lifetimes", keyCount: batches.count) { found &+= pipelinedWithLifetimes.run($0) }
        await rounds.measure("raw mget", keyCount: batches.count) { found &+= multiGet.run($0) }
        await rounds.measure("raw, handed off", keyCount: batches.count) { found &+= await handedOff.run($0) }
        await rounds.measure("raw script, handed off", keyCount: batches.count) { found &+= await scripted.run($0) }
        await rounds.measure("raw transaction, handed off", keyCount: batches.count) { found &+= await transaction.run($0) }
        await rounds.measure("raw, 10 missing", keyCount: batches.count) { found &+= pipelinedPartial.run($0) }
        try await rounds.measure("typed, 10 missing", keyCount: batches.count) {
            found &+= try await store.get(partial[$0], as: String.self).count
        }
        try await rounds.measure("entries", keyCount: batches.count) { found &+= try await store.entries(forKeys: batches[$0]).count }
        try await rounds.measure("typed", keyCount: batches.count) { found &+= try await store.get(batches[$0], as: String.self).count }
        try await rounds.measure("sequential", keyCount: batches.count) { index in
            for key in batches[index] where try await store.get(key, as: String.self) != nil { found &+= 1 }
        }
    }
    guard found > 0 else { throw BenchmarkError(message: "the bulk reads found nothing") }
    let rawName = "raw hiredis: 100 GETs, one pipelined batch"
    report.record(group, rawName, rounds.median("raw"))
    report.compare(
        group, "raw hiredis: 100 × (GET + PTTL), one pipelined batch", rounds.median("raw with lifetimes"), to: rawName,
        rounds.median("raw"))
    let handedOffName = "raw hiredis: 100 GETs, one batch, replies read on a polling thread that resumes the task"
    report.compare(group, handedOffName, rounds.median("raw, handed off"), to: rawName, rounds.median("raw"))
    report.compare(
        group, "RedisStore entries(forKeys:), 100 keys (value and lifetime each)", rounds.median("entries"), to: rawName,
        rounds.median("raw"))
    report.compare(
        group, "RedisStore entries(forKeys:), 100 keys, against GET + PTTL raw", rounds.median("entries"),
        to: "raw hiredis: 100 × (GET + PTTL), one pipelined batch", rounds.median("raw with lifetimes"))
    report.compare(
        group, "RedisStore entries(forKeys:), 100 keys, against the handed-off raw batch", rounds.median("entries"),
        to: handedOffName, rounds.median("raw, handed off"))
    let scriptedName = "raw hiredis: the bulk read's script (MGET, then PTTL of each), handed off as above"
    report.compare(group, scriptedName, rounds.median("raw script, handed off"), to: rawName, rounds.median("raw"))
    report.compare(
        group, "RedisStore entries(forKeys:), 100 keys, against the raw script handed off", rounds.median("entries"),
        to: scriptedName, rounds.median("raw script, handed off"))
    report.compare(
        group, "RedisStore get([100 keys], as: String.self)", rounds.median("typed"), to: rawName, rounds.median("raw"), note: layout)
    let multiGetName = "raw hiredis: one MGET of the 100 keys"
    report.compare(group, multiGetName, rounds.median("raw mget"), to: rawName, rounds.median("raw"))
    let transactionName = "raw hiredis: MULTI, MGET and EXISTS of the 100 keys, EXEC, DISCARD, handed off as above"
    report.compare(group, transactionName, rounds.median("raw transaction, handed off"), to: rawName, rounds.median("raw"))
    report.compare(
        group, "RedisStore get([100 keys], as: String.self), against the raw transaction handed off", rounds.median("typed"),
        to: transactionName, rounds.median("raw transaction, handed off"))
    let partialName = "raw hiredis: 100 GETs, 10 of the keys missing, one pipelined batch"
    report.record(group, partialName, rounds.median("raw, 10 missing"))
    report.compare(
        group, "RedisStore get([100 keys], as: String.self), 10 of the keys missing", rounds.median("typed, 10 missing"), to: partialName,
        rounds.median("raw, 10 missing"))
    report.compare(
        group, "RedisStore get([100 keys], as: String.self), against 100 sequential gets", rounds.median("typed"),
        to: "RedisStore get, 100 sequential", rounds.median("sequential"))
    try await store.close()
}

/// Raw hiredis pipelines prepared ahead (argument vectors allocated once): each run appends
/// a batch's commands, then reads every reply, as a hand-written client would.
final class RawPipeline: @unchecked Sendable {  // used from one task at a time
    /// One batch: every command's arguments and lengths, back to back, and each command's count.
    private struct Batch {
        let arguments: UnsafeMutablePointer<UnsafePointer<CChar>?>
        let lengths: UnsafeMutablePointer<Int>
        let counts: [Int32]
    }

    private let raw: RawRedis
    private let batches: [Batch]

    init(_ raw: RawRedis, _ batches: [[[String]]]) {
        self.raw = raw
        self.batches = batches.map { commands in
            let flat = commands.flatMap { $0 }
            let arguments = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: flat.count)
            let lengths = UnsafeMutablePointer<Int>.allocate(capacity: flat.count)
            for (index, argument) in flat.enumerated() {
                arguments[index] = UnsafePointer(strdup(argument))
                lengths[index] = argument.utf8.count
            }
            return Batch(arguments: arguments, lengths: lengths, counts: commands.map { Int32($0.count) })
        }
    }

    deinit {
        for batch in batches {
            for index in 0..<Int(batch.counts.reduce(0, +)) { free(UnsafeMutablePointer(mutating: batch.arguments[index])) }
            batch.arguments.deallocate()
            batch.lengths.deallocate()
        }
    }

    /// Sends batch `index` in one write and reads its replies; how many were not nil.
    func run(_ index: Int) -> Int {
        let batch = batches[index]
        var start = 0
        for count in batch.counts {
            redisAppendCommandArgv(raw.context, count, batch.arguments + start, batch.lengths + start)
            start += Int(count)
        }
        var found = 0
        for _ in batch.counts {
            var reply: UnsafeMutableRawPointer?
            redisGetReply(raw.context, &reply)
            if let reply, reply.assumingMemoryBound(to: redisReply.self).pointee.type == REDIS_REPLY_STRING { found += 1 }
            freeReplyObject(reply)
        }
        return found
    }
}
