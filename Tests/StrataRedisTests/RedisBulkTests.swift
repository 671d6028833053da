import Foundation
import Strata
import StrataTestSupport
import StrataTesting
import Testing

@testable import StrataRedis

/// `entries(forKeys:)`, `setEntries` and `removeEntries` on one real server: the same data
/// as the single-key calls, pipelined, every reply checked.
@Suite("RedisStore bulk calls")
struct RedisBulkTests {
    static func entry(_ text: String, expiresAt: Timestamp? = nil) -> StoredEntry {
        StoredEntry(bytes: Array(text.utf8), expiresAt: expiresAt)
    }

    /// A store on the shared server, in a namespace of its own.
    static func store(poolSize: Int = 1, _ configure: (inout RedisStore.Configuration) -> Void = { _ in }) async throws -> RedisStore {
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: try await RedisTestServer.shared))
        configuration.keyNamespace = "bulk:\(UUID().uuidString):"
        configuration.poolSize = poolSize
        configure(&configuration)
        return try RedisStore(configuration: configuration)
    }

    @Test(
        "100 keys read in one round trip (one script: MGET, then PTTL of each key found), missing keys absent; the entries equal the single-key reads"
    )
    func readOneRoundTrip() async throws {
        let store = try await Self.store()
        let now = SystemClock().now()
        let keys = (0..<100).map { "k\($0) é \u{1F600}" }
        for (index, key) in keys.enumerated() where index % 4 != 0 {
            try await store.setEntry(
                Self.entry("v\(index)", expiresAt: index % 2 == 0 ? now.adding(milliseconds: Self.lifetime(index)) : nil), forKey: key)
        }
        let before = store.statistics
        let found = try await store.entries(forKeys: keys + ["absent"])
        #expect(store.statistics.roundTrips - before.roundTrips == 1)
        #expect(store.statistics.commands - before.commands == 1, "the first read sends the script whole (EVAL)")
        #expect(found.count == 75)
        try await Self.expectSingleReads(found, store: store, keys: keys, now: now)
        let again = store.statistics
        #expect(try await store.entries(forKeys: keys + ["absent"]).mapValues(\.bytes) == found.mapValues(\.bytes))
        #expect(store.statistics.roundTrips - again.roundTrips == 1, "then by its SHA1 (EVALSHA)")
        #expect(try await store.entries(forKeys: []).isEmpty)
    }

    /// The lifetime the tests give key `index`: an hour and `index` minutes.
    static func lifetime(_ index: Int) -> Int64 { 3_600_000 + Int64(index) * 60_000 }

    /// `found` (a bulk read of `keys`, every fourth key missing) is what single reads answer,
    /// lifetimes included.
    static func expectSingleReads(_ found: [String: StoredEntry], store: RedisStore, keys: [String], now: Timestamp) async throws {
        for (index, key) in keys.enumerated() {
            let single = try await store.entry(forKey: key)
            #expect(found[key]?.bytes == single?.bytes, "\(key)")
            #expect((found[key]?.expiresAt == nil) == (single?.expiresAt == nil), "\(key)")
            #expect((found[key] == nil) == (index % 4 == 0), "\(key)")
            if let expiresAt = found[key]?.expiresAt {
                // Each key its own lifetime, a minute apart: a lifetime read for the wrong key fails.
                let remaining = expiresAt.millisecondsSince1970 - now.millisecondsSince1970
                let expected = Self.lifetime(index)
                #expect(remaining > expected - 20_000 && remaining <= expected + 1_000, "\(key): \(remaining) ms left, \(expected) set")
            }
        }
    }

    @Test(
        "a typed bulk get reads values alone in one round trip (MULTI, MGET, EXISTS, EXEC, DISCARD; no PTTL on the server); the values single gets answer, an envelope past its expiry, an invalidated tag and missing keys absent, a list corruptEntry"
    )
    func typedReadLeavesOutLifetimes() async throws {
        let server = try await RedisTestServer()
        let store = try RedisStore(url: "redis://127.0.0.1:\(server.port)")
        let keys = (0..<100).map { "k\($0) é" }
        for (index, key) in keys.enumerated() where index % 4 != 0 {
            try await store.set(key, "v\(index)", expires: index % 2 == 0 ? Expiry(.milliseconds(Self.lifetime(index))) : nil)
        }
        try await Self.writeEnvelopes(store)

        let before = store.statistics
        let values = try await store.get(keys + ["ended", "tagged", "kept", "absent"], as: String.self)
        #expect(store.statistics.roundTrips - before.roundTrips == 2, "the transaction (26 keys missing), then the tag's record")
        #expect(store.statistics.commands - before.commands == 5 + 1)
        var expected: [String: String] = ["kept": "k"]
        for (index, key) in keys.enumerated() where index % 4 != 0 { expected[key] = "v\(index)" }
        #expect(values == expected)
        for key in keys + ["ended", "tagged", "kept"] { #expect(try await store.get(key, as: String.self) == values[key], "\(key)") }
        // The single gets above read values alone too (GET); the counts are taken after them.
        let statistics = try await Self.commandCounts(server)
        let again = store.statistics
        #expect(try await store.get(keys, as: String.self) == expected.filter { $0.key != "kept" })
        #expect(store.statistics.roundTrips - again.roundTrips == 1, "missing keys cost no round trip more")
        let after = try await Self.commandCounts(server)
        for (command, calls) in [("pttl", 0), ("get", 0), ("mget", 1), ("exists", 1), ("multi", 1), ("exec", 1), ("discard", 1)] {
            #expect(after[command, default: 0] - statistics[command, default: 0] == calls, "\(command): \(after)")
        }

        _ = try await server.cli("LPUSH", "list", "x")
        let error = await #expect(throws: StrataError(code: .corruptEntry, message: "")) {
            try await store.get(["k1 é", "absent", "list"], as: String.self)
        }
        #expect(error?.key == "list", "EXISTS counted a key MGET did not find: GET names it")
        // Through a prefixed view, many chunks (32 keys each), misses spread over them.
        let small = try RedisStore(
            configuration: {
                var configuration = store.configuration
                configuration.maxQueuedCommands = 64
                configuration.poolSize = 2
                return configuration
            }())
        let view = small.prefixed("view:")
        let many = (0..<200).map { "m\($0)" }
        for (index, key) in many.enumerated() where index % 3 != 0 { try await view.set(key, "w\(index)") }
        let chunked = small.statistics
        let read = try await view.get(many, as: String.self)
        #expect(
            read == Dictionary(uniqueKeysWithValues: many.enumerated().filter { $0.offset % 3 != 0 }.map { ($0.element, "w\($0.offset)") }))
        #expect(small.statistics.roundTrips - chunked.roundTrips == 7, "a transaction per 32 keys")
        _ = try await server.cli("LPUSH", "view:list", "x")
        let viewError = await #expect(throws: StrataError(code: .corruptEntry, message: "")) {
            try await view.get(["m1", "list"], as: String.self)
        }
        #expect(viewError?.key == "list", "the caller's key, not the view's")
        try await small.close()
        #expect(try await store.entries(forKeys: ["k1 é"])["k1 é"]?.expiresAt == nil, "entries(forKeys:) still reads lifetimes")
        #expect(try await store.entries(forKeys: ["k2 é"])["k2 é"]?.expiresAt != nil)
        try await store.close()
    }

    /// Entries whose envelopes decide a plain read: "ended", kept by Redis for an hour (its
    /// grace) past its own expiry, which a plain read misses; "tagged" ("t"), whose tag is
    /// invalidated, which it misses too; "kept" ("k"), within its lifetime, which it returns.
    static func writeEnvelopes(_ store: RedisStore) async throws {
        let now = SystemClock().now()
        let ended = EntryEnvelope(expiresAt: now.millisecondsSince1970 - 1_000, writtenAt: now.millisecondsSince1970 - 2_000, tags: [])
        try await store.setEntry(
            StoredEntry(bytes: ended.encode(payload: Array("\"old\"".utf8)), expiresAt: now.adding(milliseconds: 3_600_000)),
            forKey: "ended")
        try await store.set("tagged", "t", options: EntryOptions(expires: "1h", tags: ["catalog"]))
        try await store.set("kept", "k", options: EntryOptions(expires: "1h", grace: "1h"))
        try await store.invalidate(tags: ["catalog"])
    }

    /// The server's count of calls per command (lower-cased), from `INFO commandstats`.
    static func commandCounts(_ server: RedisTestServer) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for line in try await server.cli("INFO", "commandstats").split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
            let name = line.dropFirst("cmdstat_".count).prefix { $0 != ":" }
            guard let start = line.range(of: ":calls=")?.upperBound, let count = Int(line[start...].prefix(while: \.isNumber)) else {
                continue
            }
            counts[String(name)] = count
        }
        return counts
    }

    @Test(
        "a typed bulk get of repeated keys reads each key once (the server counts as many key look-ups as for the keys without repeats), in one round trip, and answers each key once; a repeated key of another Redis type is corruptEntry naming it"
    )
    func typedReadOfRepeatedKeys() async throws {
        let server = try await RedisTestServer()
        let store = try RedisStore(url: "redis://127.0.0.1:\(server.port)")
        try await store.set("a", "one")
        try await store.set("b", "two")
        /// The server's counts of key look-ups that found their key, and that did not.
        func lookUps() async throws -> (hits: Int, misses: Int) {
            let lines = try await server.cli("INFO", "stats").split(whereSeparator: \.isNewline)
            func count(_ name: String) throws -> Int {
                try #require(lines.first { $0.hasPrefix(name + ":") }.flatMap { Int($0.dropFirst(name.count + 1)) })
            }
            return (try count("keyspace_hits"), try count("keyspace_misses"))
        }
        var before = try await lookUps()
        #expect(try await store.get(["a", "b", "absent"], as: String.self) == ["a": "one", "b": "two"])
        var after = try await lookUps()
        let distinct = (hits: after.hits - before.hits, misses: after.misses - before.misses)
        #expect(distinct.hits >= 2 && distinct.misses >= 1, "the server counts the look-ups of a bulk read: \(distinct)")
        before = after
        let rounds = store.statistics.roundTrips
        let values = try await store.get(["a", "b", "a", "absent", "absent", "a"], as: String.self)
        #expect(values == ["a": "one", "b": "two"])
        #expect(store.statistics.roundTrips - rounds == 1)
        after = try await lookUps()
        #expect(after.hits - before.hits == distinct.hits, "each key found looked up once, as without repeats")
        #expect(after.misses - before.misses == distinct.misses, "each missing key looked up once, as without repeats")
        let view = store.prefixed("v:")
        try await view.set("a", "view's")
        #expect(try await view.get(["a", "a", "b"], as: String.self) == ["a": "view's"])

        _ = try await server.cli("LPUSH", "list", "x")
        let error = await #expect(throws: StrataError(code: .corruptEntry, message: "")) {
            try await store.get(["list", "a", "list"], as: String.self)
        }
        #expect(error?.key == "list")
        // One key equal to another as a Swift string but not byte for byte cannot share a call.
        await #expect(throws: StrataError(code: .invalidKey, message: "")) {
            try await store.get(["\u{E9}", "e\u{301}"], as: String.self)
        }
        #expect(try await store.get(["\u{E9}", "a", "\u{E9}"], as: String.self) == ["a": "one"])
        try await store.close()
    }

    @Test("a typed bulk get of entries sharing a tag reads the tag's invalidation record once for the batch, not once an entry")
    func taggedBulkReadReadsEachTagOnce() async throws {
        let server = try await RedisTestServer()
        let store = try RedisStore(url: "redis://127.0.0.1:\(server.port)")
        let plain = (0..<100).map { "plain:\($0)" }
        let tagged = (0..<100).map { "tagged:\($0)" }
        try await store.set(Dictionary(uniqueKeysWithValues: plain.map { ($0, 1) }))
        try await store.set(
            Dictionary(uniqueKeysWithValues: tagged.map { ($0, 2) }), options: EntryOptions(expires: "1h", tags: ["catalog"]))
        var before = store.statistics
        #expect(try await store.get(plain, as: Int.self).count == 100)
        let plainCommands = store.statistics.commands - before.commands
        before = store.statistics
        #expect(try await store.get(tagged, as: Int.self).count == 100)
        #expect(store.statistics.commands - before.commands == plainCommands + 1, "the batch, and one read of the tag's record")
        try await store.invalidate(tags: ["catalog"])
        #expect(try await store.get(tagged, as: Int.self).isEmpty, "after the tag's invalidation: nothing")
        try await store.close()
    }

    /// A tiered store over a server of its own, `l2ReadFailures = .treatAsMiss`, holding
    /// `values` in L2 and, under "list", a key no read can take (a list).
    static func treatingFailuresAsMisses(_ values: [String: String]) async throws -> (RedisTestServer, TieredStore) {
        let server = try await RedisTestServer()
        let redis = try RedisStore(url: "redis://127.0.0.1:\(server.port)")
        try await redis.set(values)
        _ = try await server.cli("LPUSH", "list", "x")
        return (server, TieredStore(l1: MemoryStore(), l2: redis, configuration: .init(l2ReadFailures: .treatAsMiss)))
    }

    @Test(
        "l2ReadFailures = .treatAsMiss: a bulk read through a tiered store with one key that cannot be read (a list) answers every other key, as single reads would"
    )
    func treatAsMissSparesTheOtherKeys() async throws {
        let (server, cache) = try await Self.treatingFailuresAsMisses(["a": "one", "b": "two"])
        #expect(try await cache.get("list", as: String.self) == nil, "a single read: a miss")
        #expect(try await cache.get(["a", "list", "b"], as: String.self) == ["a": "one", "b": "two"])
        #expect(try await cache.l1.get(["a", "b"], as: String.self).count == 2, "the others were copied into L1")
        let entries = try await cache.entries(forKeys: ["list", "c", "a"])
        #expect(entries.keys.sorted() == ["a"], "the raw bulk read too")
        #expect(cache.statistics.l2Errors == 3, "each unreadable read counted: \(cache.statistics.l2Errors)")
        try await cache.close()
        withExtendedLifetime(server) {}  // the server runs until the test ends
    }

    @Test(
        "R2 under treatAsMiss: a batch asked again without an unreadable key keeps its snapshots, so a write that lands before the fill keeps the older value out of L1"
    )
    func treatAsMissRetryKeepsSnapshots() async throws {
        let (server, cache) = try await Self.treatingFailuresAsMisses(["a": "old", "b": "x"])
        let gate = PipelineGates.shared.arm(.beforeFill, key: "a", in: cache)
        defer { PipelineGates.shared.disarm(gate) }
        let reading = Task { try await cache.get(["a", "list", "b"], as: String.self) }
        try await gate.reached()  // the batch was asked again without "list", and read "old"
        try await cache.set("a", "new")
        gate.open()
        #expect(try await reading.value == ["a": "old", "b": "x"], "the read began before the write")
        #expect(try await cache.get("a", as: String.self) == "new", "read your writes: L1 did not keep the older value")
        #expect(try await cache.l1.get("b", as: String.self) == "x", "the other key was copied into L1")
        try await cache.close()
        withExtendedLifetime(server) {}  // the server runs until the test ends
    }

    @Test("a script refused for one of its keys (an ACL's key patterns) is read key by key, the refused key named; scripts stay in use")
    func readWithARefusedKey() async throws {
        let server = try await RedisTestServer()
        try await server.cli("ACL", "SETUSER", "app", "on", ">pw", "~k*", "&*", "+@all")
        let store = try RedisStore(url: "redis://app:pw@127.0.0.1:\(server.port)")
        try await server.cli("SET", "k1", "one")  // (a store's set also touches its lease's name, outside ~k*)
        let refused = try await #require(throws: StrataError.self) { try await store.entries(forKeys: ["k1", "z1"]) }
        #expect(refused.key == "z1" && refused.code == .accessDenied, "\(refused)")
        let scriptsOff = store.scriptedReadsRefused.load(ordering: .relaxed)
        #expect(!scriptsOff, "a key's refusal does not turn scripts off")
        let before = store.statistics
        #expect(try await store.entries(forKeys: ["k1", "k2"]).keys.sorted() == ["k1"])
        #expect(store.statistics.commands - before.commands == 1, "one script, not GET and PTTL per key")
        // A transaction aborted for the key outside the pattern (EXECABORT): GET per key names it.
        let typed = try await #require(throws: StrataError.self) { try await store.get(["k1", "z1"], as: String.self) }
        #expect(typed.key == "z1" && typed.code == .accessDenied, "\(typed)")
        let transactionsOff = store.transactionsRefused.load(ordering: .relaxed)
        #expect(!transactionsOff, "a key's refusal (EXECABORT) does not turn transactions off")
        let next = store.statistics
        #expect(try await store.get(["k1", "k2"], as: String.self) == ["k1": "one"])
        #expect(store.statistics.commands - next.commands == 5, "the transaction again")
        try await store.close()
    }

    @Test("a server that refuses scripts (an ACL without EVAL and EVALSHA): the bulk read sends GET and PTTL per key, the same entries")
    func readWithoutScripts() async throws {
        let server = try await RedisTestServer()
        try await server.cli("ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-@scripting")
        let store = try RedisStore(url: "redis://app:pw@127.0.0.1:\(server.port)")
        let now = SystemClock().now()
        let keys = (0..<100).map { "k\($0) é" }
        for (index, key) in keys.enumerated() where index % 4 != 0 {
            try await store.setEntry(
                Self.entry("v\(index)", expiresAt: index % 2 == 0 ? now.adding(milliseconds: Self.lifetime(index)) : nil), forKey: key)
        }
        let found = try await store.entries(forKeys: keys)
        #expect(found.count == 75)
        try await Self.expectSingleReads(found, store: store, keys: keys, now: now)
        let refused = store.scriptedReadsRefused.load(ordering: .relaxed)
        #expect(refused, "the store remembers the refusal")
        let before = store.statistics
        #expect(try await store.entries(forKeys: keys).mapValues(\.bytes) == found.mapValues(\.bytes))
        #expect(store.statistics.roundTrips - before.roundTrips == 1, "no script tried again")
        #expect(store.statistics.commands - before.commands == 200)
        _ = try await server.cli("LPUSH", "list", "x")
        let error = await #expect(throws: StrataError(code: .corruptEntry, message: "")) {
            try await store.entries(forKeys: ["k1 é", "list"])
        }
        #expect(error?.key == "list")
        // A typed bulk get reads values alone, without a script: the same values.
        let values = try await store.get(keys, as: String.self)
        #expect(values == found.mapValues { String(decoding: $0.bytes, as: UTF8.self) })
        #expect(store.statistics.commands - before.commands == 200 + 4 + 5, "MULTI, MGET, EXISTS, EXEC, DISCARD; no PTTL")
    }

    @Test(
        "a server that refuses MULTI, EXEC (with DISCARD or not) or MGET (ACLs): the typed bulk get sends GET per key, the same values, remembers, and the one connection still writes and reads (Redis 7 ends a transaction whose EXEC it refuses)",
        arguments: [["-multi"], ["-exec"], ["-exec", "-discard"], ["-mget"]])
    func readWithoutTransactions(refused: [String]) async throws {
        let server = try await RedisTestServer()
        try await server.cli(arguments: ["ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all"] + refused)
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: "redis://app:pw@127.0.0.1:\(server.port)"))
        configuration.poolSize = 1  // every call on the connection the refused transaction used
        let store = try RedisStore(configuration: configuration)
        let keys = (0..<50).map { "k\($0)" }
        for (index, key) in keys.enumerated() where index % 5 != 0 { try await store.set(key, "v\(index)") }
        let expected = Dictionary(
            uniqueKeysWithValues: keys.enumerated().filter { $0.offset % 5 != 0 }.map { ($0.element, "v\($0.offset)") })
        #expect(try await store.get(keys, as: String.self) == expected)
        let refused = store.transactionsRefused.load(ordering: .relaxed)
        #expect(refused, "the store remembers the refusal")
        let before = store.statistics
        #expect(try await store.get(keys, as: String.self) == expected)
        #expect(store.statistics.roundTrips - before.roundTrips == 1)
        #expect(store.statistics.commands - before.commands == 50, "GET per key, no MULTI tried again")
        _ = try await server.cli("LPUSH", "list", "x")
        let error = await #expect(throws: StrataError(code: .corruptEntry, message: "")) {
            try await store.get(["k1", "list"], as: String.self)
        }
        #expect(error?.key == "list")
        // The connection answers as before: a write lands, a read reads it.
        try await store.set("after", "written")
        #expect(try await store.get("after", as: String.self) == "written")
        #expect(try await server.cli("GET", "after").trimmingCharacters(in: .whitespacesAndNewlines) == "written")
        try await store.close()
    }

    @Test("setEntries writes what setEntry writes, byte for byte (SET, SET PX, DEL for one already expired), in one round trip")
    func writesLikeSingleKeys() async throws {
        let store = try await Self.store()
        let now = SystemClock().now()
        let entries: [String: StoredEntry] = [
            "plain": StoredEntry(bytes: [0, 255, 13, 10, 32], expiresAt: nil),
            "lived": Self.entry("an hour", expiresAt: now.adding(milliseconds: 3_600_000)),
            "expired": Self.entry("gone", expiresAt: now.adding(milliseconds: -1)),
            "key with spaces\r\n": Self.entry("x"),
        ]
        try await store.setEntry(Self.entry("old"), forKey: "expired")
        let before = store.statistics
        try await store.setEntries(entries)
        #expect(store.statistics.roundTrips - before.roundTrips == 1)
        #expect(store.statistics.commands - before.commands == 8, "DEL of the lease and the write, per key")
        #expect(try await store.entry(forKey: "expired") == nil, "an entry already expired removes the key")
        #expect(try await store.entry(forKey: "plain") == StoredEntry(bytes: [0, 255, 13, 10, 32], expiresAt: nil))
        let lived = try #require(try await store.entry(forKey: "lived"))
        #expect(lived.bytes == Array("an hour".utf8))
        let remaining = try #require(lived.expiresAt).millisecondsSince1970 - now.millisecondsSince1970
        #expect(remaining > 3_000_000 && remaining < 4_000_000, "\(remaining) ms left: about an hour")
        // The bytes in Redis are the single-key call's.
        let twin = try await Self.store { $0.keyNamespace = store.configuration.keyNamespace + "single:" }
        for (key, entry) in entries { try await twin.setEntry(entry, forKey: key) }
        for key in entries.keys {
            #expect(try await store.entry(forKey: key)?.bytes == (try await twin.entry(forKey: key))?.bytes, "\(key)")
        }
        try await store.setEntries([:])
    }

    @Test("every change breaks the key's lease: a leased write after setEntries or removeEntries does not land")
    func breaksLeases() async throws {
        let store = try await Self.store()
        try await store.setEntries(["a": Self.entry("1"), "b": Self.entry("2")])
        let (leaseA, leaseB, leaseC) = (EntryLease.random(), EntryLease.random(), EntryLease.random())
        _ = try await store.leaseEntry(forKey: "a", lease: leaseA, duration: .seconds(60))
        _ = try await store.leaseEntry(forKey: "b", lease: leaseB, duration: .seconds(60))
        _ = try await store.leaseEntry(forKey: "c", lease: leaseC, duration: .seconds(60))
        try await store.setEntries(["a": Self.entry("new")])
        #expect(try await store.removeEntries(forKeys: ["b", "c"]) == 1, "c held nothing")
        #expect(!(try await store.setEntry(Self.entry("stale"), forKey: "a", ifLeased: leaseA, keepingLease: false)))
        #expect(!(try await store.setEntry(Self.entry("stale"), forKey: "b", ifLeased: leaseB, keepingLease: false)))
        #expect(!(try await store.setEntry(Self.entry("stale"), forKey: "c", ifLeased: leaseC, keepingLease: false)))
        #expect(try await store.entries(forKeys: ["a", "b", "c"]) == ["a": Self.entry("new")])
    }

    @Test("removeEntries counts the keys that held an entry, as removeEntry does; repeated keys count once")
    func removals() async throws {
        let store = try await Self.store()
        let now = SystemClock().now()
        try await store.setEntries(["a": Self.entry("1"), "b": Self.entry("2", expiresAt: now.adding(milliseconds: 60_000))])
        let before = store.statistics
        #expect(try await store.removeEntries(forKeys: ["a", "b", "missing", "a"]) == 2)
        #expect(store.statistics.roundTrips - before.roundTrips == 1)
        #expect(try await store.entries(forKeys: ["a", "b"]).isEmpty)
        #expect(try await store.removeEntries(forKeys: []) == 0)
    }

    @Test("a key holding a list is corruptEntry naming it, as a single read reports it")
    func corruptEntry() async throws {
        let store = try await Self.store()
        try await store.setEntries(["fine": Self.entry("1")])
        let admin = try RedisStore(url: try await RedisTestServer.shared)
        _ = try await admin.send(nil, [admin.command("LPUSH", store.configuration.keyNamespace + "list", "x")])
        let error = await #expect(throws: StrataError(code: .corruptEntry, message: "")) {
            try await store.entries(forKeys: ["fine", "list"])
        }
        #expect(error?.key == "list")
        #expect(error?.backend == store.backendName)
    }

    @Test("a large call is cut into bounded pipelines (maxQueuedCommands), all keys answered")
    func chunked() async throws {
        let store = try await Self.store(poolSize: 2) { $0.maxQueuedCommands = 64 }
        let entries = Dictionary(uniqueKeysWithValues: (0..<1_000).map { ("k\($0)", Self.entry("v\($0)")) })
        var before = store.statistics
        try await store.setEntries(entries)
        #expect(store.statistics.roundTrips - before.roundTrips >= 2_000 / 64)
        before = store.statistics
        let found = try await store.entries(forKeys: Array(entries.keys))
        #expect(found == entries)
        #expect(store.statistics.commands - before.commands == 32, "a script per 32 keys")
        #expect(try await store.removeEntries(forKeys: Array(entries.keys)) == 1_000)
        #expect(store.chunked(Array(repeating: [[[1]], [[2]]], count: 100)).count == 4, "32 keys of 2 commands each")
    }

    @Test("a write refused part-way (an ACL that allows some keys): accessDenied for the first refused key, writtenKeys the keys stored")
    func refusedPartWay() async throws {
        let server = try await RedisTestServer()
        // Writes to allowed:* only; DEL (of leases, whose names start with 0xFF) anywhere.
        try await server.cli("ACL", "SETUSER", "app", "on", ">app pw", "&*", "+@all", "~allowed:*", "(~* +del)")
        let store = try RedisStore(url: "redis://app:app%20pw@127.0.0.1:\(server.port)")
        let entries = Dictionary(
            uniqueKeysWithValues: ["allowed:a", "allowed:z", "denied:m", "denied:b", "allowed:é"].map { ($0, Self.entry($0)) })
        let error = await #expect(throws: StrataError(code: .accessDenied, message: "")) { try await store.setEntries(entries) }
        #expect(error?.key == "denied:b", "the first refused in byte order")
        #expect(error?.writtenKeys == ["allowed:a", "allowed:z", "allowed:é"])
        #expect(error?.description.contains("NOPERM") == true)
        #expect(error?.backend == store.backendName)
        #expect((error?.underlying as? RedisServerError)?.kind == "NOPERM")
        for key in ["allowed:a", "allowed:z", "allowed:é"] {
            #expect(try await server.cli("GET", key) == key + "\n", "\(key) is stored")
        }
        #expect(try await server.cli("EXISTS", "denied:b", "denied:m").hasPrefix("0"))
    }

    @Test(
        "a server that goes away with the batch out: backendUnavailable naming the backend, writtenKeys empty, no hang",
        .timeLimit(.minutes(1)))
    func serverGoesAway() async throws {
        for operation in ["write", "read", "remove"] {
            let server = try await RedisTestServer()
            var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: server.unixURL))
            configuration.poolSize = 1
            configuration.commandTimeout = .seconds(30)  // the loss, not a timeout, ends the call
            let store = try RedisStore(configuration: configuration)
            let keys = (0..<100).map { "k\($0)" }
            try await store.setEntries(Dictionary(uniqueKeysWithValues: keys.map { ($0, Self.entry($0)) }))
            let before = store.statistics.roundTrips
            server.send(SIGSTOP)  // keeps the connection, answers nothing
            let call = Task {
                switch operation {
                case "write": try await store.setEntries(Dictionary(uniqueKeysWithValues: keys.map { ($0, Self.entry("new")) }))
                case "read": _ = try await store.entries(forKeys: keys)
                default: _ = try await store.removeEntries(forKeys: keys)
                }
            }
            #expect(try await eventually { store.statistics.roundTrips == before + 1 }, "\(operation): the batch is out")
            server.kill()
            let error = await #expect(throws: StrataError(code: .backendUnavailable, message: ""), "\(operation)") {
                try await call.value
            }
            #expect(error?.backend == store.backendName, "\(operation)")
            #expect(error?.description.contains(store.backendName) == true, "\(operation)")
            if operation == "write" { #expect(error?.writtenKeys == [], "nothing was answered OK") }
            #expect(error?.key == "k0", "\(operation): the first key of the lost pipeline")
        }
    }
}
