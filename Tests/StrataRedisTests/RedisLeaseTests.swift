import Foundation
import Strata
import StrataTestSupport
import StrataTesting
import Testing

@testable import StrataRedis

/// Leases and records in Redis: across store instances (two pools, as two processes
/// have), under names no key can have, in one script, and on a cluster in the key's slot.
@Suite("RedisStore leases and records")
struct RedisLeaseTests {
    static func entry(_ text: String) -> StoredEntry {
        StoredEntry(bytes: Array(text.utf8), expiresAt: nil)
    }

    @Test("another instance's set, delete (of a missing key), increment, expire, setIfAbsent and clear break this instance's lease")
    func acrossInstances() async throws {
        let url = try await RedisTestServer.shared
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: url))
        configuration.keyNamespace = "leases:\(UUID().uuidString):"
        let mine = try RedisStore(configuration: configuration)
        let other = try RedisStore(configuration: configuration)
        typealias Change = @Sendable (RedisStore, String) async throws -> Void
        let set: Change = { store, key in try await store.set(key, "newer") }
        let delete: Change = { store, key in try await store.delete(key) }
        let increment: Change = { store, key in _ = try await store.increment(key) }
        let setIfAbsent: Change = { store, key in _ = try await store.setIfAbsent(key, "first") }
        let expire: Change = { store, key in _ = try await store.expire(key, "1h") }
        let clearPrefix: Change = { store, key in _ = try await store.clear(prefix: String(key.prefix(2))) }
        let clearAll: Change = { store, _ in _ = try await store.clear() }
        let newLease: Change = { store, key in _ = try await store.leaseEntry(forKey: key, lease: .random(), duration: .seconds(60)) }
        let changes: [(String, Change)] = [
            ("set", set), ("delete of a missing key", delete), ("increment", increment), ("setIfAbsent", setIfAbsent),
            ("expire", expire), ("clear of a prefix", clearPrefix), ("clear of everything", clearAll), ("another lease", newLease),
        ]
        for (index, (name, change)) in changes.enumerated() {
            let key = "k\(index):leased"
            if name == "expire" { try await other.set(key, "present") }  // expire changes an existing entry
            let lease = EntryLease.random()
            _ = try await mine.leaseEntry(forKey: key, lease: lease, duration: .seconds(60))
            try await change(other, key)
            let before = try await mine.entry(forKey: key)?.bytes
            #expect(!(try await mine.setEntry(Self.entry("stale"), forKey: key, ifLeased: lease, keepingLease: false)), "after \(name)")
            #expect(try await mine.entry(forKey: key)?.bytes == before, "the key after \(name)")
        }
        // And a lease nothing changed holds, whichever instance took it.
        let lease = EntryLease.random()
        _ = try await other.leaseEntry(forKey: "quiet", lease: lease, duration: .seconds(60))
        #expect(try await mine.setEntry(Self.entry("computed"), forKey: "quiet", ifLeased: lease, keepingLease: false))
        #expect(try await other.get("quiet", as: String.self) == "computed")
        try await mine.clear()
    }

    @Test(
        "leases, records and locks are named with a first byte of 0xFF: with an empty namespace no listing shows them, clear() removes none of the records and locks, and breaks the leases"
    )
    func namesApartFromKeys() async throws {
        let server = try await RedisTestServer()  // an empty database: the store's namespace is empty
        let store = try RedisStore(url: server.unixURL)
        let lock = RedisComputeLock(redis: store)
        try await store.set("plain", "value")
        let lease = EntryLease.random()
        _ = try await store.leaseEntry(forKey: "plain", lease: lease, duration: .seconds(60))
        try await store.raiseRecord(named: "tag:team", to: 1_234)
        let token = try #require(try await lock.acquire("plain", lease: .seconds(60)))
        let names = try await server.cli("--no-raw", "KEYS", "*").split(separator: "\n").map { String($0) }
        #expect(
            Set(names.map { $0.drop { !$0.isWhitespace }.trimmingCharacters(in: .whitespaces) }) == [
                #""plain""#, #""\xffstrata:lease:plain""#, #""\xffstrata:record:tag:team""#, #""\xffstrata:lock:plain""#,
            ], "\(names)")
        #expect(try await store.keys() == ["plain"])
        #expect(try await store.entries(prefix: "", as: String.self).map(\.key) == ["plain"])

        #expect(try await store.clear() == 1, "clear() counts the one key")
        #expect(
            !(try await store.setEntry(Self.entry("late"), forKey: "plain", ifLeased: lease, keepingLease: false)), "the lease was broken")
        #expect(try await store.records(named: ["tag:team"]) == [1_234], "the record outlives clear()")
        #expect(try await lock.acquire("plain", lease: .seconds(60)) == nil, "the lock outlives clear()")
        try await lock.release("plain", token: token)
        #expect(try await server.cli("DBSIZE").trimmingCharacters(in: .whitespacesAndNewlines) == "1", "only the record is left")
    }

    @Test("the leased write runs by EVALSHA, and by EVAL when the server has no copy of the script (SCRIPT FLUSH)")
    func scriptsByDigest() async throws {
        let server = try await RedisTestServer()
        let store = try RedisStore(url: server.unixURL)
        // The digest is the one the server computes for the script.
        let loaded = try await server.cli(arguments: [
            "SCRIPT", "LOAD", String(decoding: RedisStore.leasedWriteScript.source, as: UTF8.self),
        ])
        #expect(loaded.trimmingCharacters(in: .whitespacesAndNewlines) == String(decoding: RedisStore.leasedWriteScript.sha, as: UTF8.self))
        #expect(SHA1.hex(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(SHA1.hex(Array(String(repeating: "a", count: 1_000).utf8)) == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
        for round in 0..<2 {
            try await server.cli("SCRIPT", "FLUSH")
            let lease = EntryLease.random()
            _ = try await store.leaseEntry(forKey: "k", lease: lease, duration: .seconds(60))
            #expect(try await store.setEntry(Self.entry("v\(round)"), forKey: "k", ifLeased: lease, keepingLease: false))
            #expect(try await store.get("k", as: String.self) == "v\(round)")
            try await store.raiseRecord(named: "r", to: Int64(round))
            #expect(try await store.increment("n") == round + 1)
        }
    }

    @Test("leaseEntry and every write are one round trip each: the lease's SET and DEL ride in the same batch")
    func oneRoundTripEach() async throws {
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: try await RedisTestServer.shared))
        configuration.keyNamespace = "trips:\(UUID().uuidString):"
        configuration.poolSize = 1
        let store = try RedisStore(configuration: configuration)
        typealias Call = @Sendable (RedisStore) async throws -> Void
        let lease: Call = { store in _ = try await store.leaseEntry(forKey: "k", lease: .random(), duration: .seconds(60)) }
        let set: Call = { store in try await store.set("k", "v") }
        let delete: Call = { store in _ = try await store.delete("k") }
        let setIfAbsent: Call = { store in _ = try await store.setIfAbsent("k", "v") }
        let expire: Call = { store in _ = try await store.expire("k", "1h") }
        let increment: Call = { store in _ = try await store.increment("n") }
        let records: Call = { store in _ = try await store.records(named: ["a", "b", "c"]) }
        let calls: [(String, Call)] = [
            ("leaseEntry", lease), ("set", set), ("delete", delete), ("setIfAbsent", setIfAbsent), ("expire", expire),
            ("increment", increment), ("records", records),
        ]
        // A script's first call on a server that has not cached it is EVALSHA, NOSCRIPT,
        // then EVAL: two round trips, once. This suite shares one server, and whether
        // another test ran a script first depends on the order the tests run in, so every
        // call runs once before the counted pass, which starts again from an empty store.
        for (name, call) in calls {
            let first = store.statistics.roundTrips
            try await call(store)
            #expect((1...2).contains(store.statistics.roundTrips - first), "\(name), the first call")
        }
        try await store.clear()
        for (name, call) in calls {
            let before = store.statistics.roundTrips
            try await call(store)
            #expect(store.statistics.roundTrips - before == 1, "\(name)")
        }
        try await store.clear()
    }

    @Test("raiseRecord is a max-merge in Redis: many raises from two instances at once keep the greatest; Int64 values compare exactly")
    func recordsMerge() async throws {
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: try await RedisTestServer.shared))
        configuration.keyNamespace = "records:\(UUID().uuidString):"
        let stores = [try RedisStore(configuration: configuration), try RedisStore(configuration: configuration)]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for value in (1...200).shuffled() {
                group.addTask { try await stores[value % 2].raiseRecord(named: "tag:x", to: Int64(value)) }
            }
            try await group.waitForAll()
        }
        #expect(try await stores[0].records(named: ["tag:x", "never"]) == [200, 0])
        // 2^53 + 1 and 2^53 are one double: a comparison of Lua numbers would keep the first.
        try await stores[1].raiseRecord(named: "big", to: 9_007_199_254_740_992)
        try await stores[1].raiseRecord(named: "big", to: 9_007_199_254_740_993)
        try await stores[1].raiseRecord(named: "big", to: -5)
        #expect(try await stores[0].records(named: ["big"]) == [9_007_199_254_740_993])
        try await stores[0].raiseRecord(named: "max", to: .max)
        try await stores[0].raiseRecord(named: "max", to: .max - 1)
        #expect(try await stores[1].records(named: ["max"]) == [.max])
    }

    @Test(
        "T1 under eviction: a tag record Redis evicted (allkeys-*) is read as invalidated now, never as never invalidated: the entries it invalidated stay unreadable, through a store of one tier and a fresh tiered one"
    )
    func evictedTagRecord() async throws {
        let server = try await RedisTestServer()
        let redis = try RedisStore(url: server.unixURL)
        let options = EntryOptions(expires: "1h", tags: ["team"])
        try await redis.set("k", 1, options: options)
        try await redis.invalidate(tags: ["team"])
        #expect(try await redis.get("k", as: Int.self) == nil)
        // What an eviction does; the record's name starts with the byte 0xFF.
        #expect(try await server.cli("--quoted-input", "DEL", #""\xffstrata:record:tag:team""#).contains("1"))
        #expect(try await redis.get("k", as: Int.self) == nil, "a store of one tier")
        let fresh = TieredStore(
            l1: MemoryStore(), l2: try RedisStore(url: server.unixURL), configuration: .init(l2Timeout: .seconds(60)))
        #expect(try await fresh.get("k", as: Int.self) == nil, "a tiered store that loads the tag now")
        let instant = try await redis.records(named: ["tag:team"])[0]
        #expect(instant >= redis.clock.now().millisecondsSince1970 - 60_000, "the record is back, at the instant it was found missing")
        let lifetime = Int(
            try await server.cli("--quoted-input", "PTTL", #""\xffstrata:record:tag:team""#).trimmingCharacters(in: .whitespacesAndNewlines)
        )
        #expect(lifetime.map { $0 > 0 && $0 <= 30 * 24 * 3_600_000 } == true, "set for 30 days: \(String(describing: lifetime))")
        // A server that refuses the write (maxmemory reached, noeviction): the read does not fail.
        _ = try await server.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
        _ = try await server.cli("CONFIG", "SET", "maxmemory", "1")
        let refused = try await redis.records(named: ["tag:refused"])[0]
        _ = try await server.cli("CONFIG", "SET", "maxmemory", "0")
        #expect(refused >= instant, "taken as invalidated now, unrecorded")
        #expect(try await server.cli("--quoted-input", "EXISTS", #""\xffstrata:record:tag:refused""#).contains("0"))
        // A tag no invalidation ever recorded reads as invalidated when first loaded; what is
        // written after that is readable.
        let loaded = try await redis.records(named: ["tag:new", "plain record"])
        #expect(loaded[0] > 0 && loaded[1] == 0, "not a tag's record: 0 when missing")
        while redis.clock.now().millisecondsSince1970 <= loaded[0] { await Task.yield() }  // at most a millisecond
        try await redis.set("n", 2, options: EntryOptions(expires: "1h", tags: ["new"]))
        #expect(try await redis.get("n", as: Int.self) == 2)
        #expect(try await fresh.get("n", as: Int.self) == 2)
        try await fresh.close()
    }

    @Test(
        "a new tag's first entry, computed or written by one instance, is read by another: the tag's record is read (so set) before the entry's start"
    )
    func newTagFirstEntry() async throws {
        let server = try await RedisTestServer()
        // No L2 call is given up on a loaded machine: the test is about the order of the reads.
        let configuration = TieredStore.Configuration(l2Timeout: .seconds(60))
        let first = TieredStore(l1: MemoryStore(), l2: try RedisStore(url: server.unixURL), configuration: configuration)
        let second = TieredStore(l1: MemoryStore(), l2: try RedisStore(url: server.unixURL), configuration: configuration)
        func options(_ tag: String) -> EntryOptions { EntryOptions(expires: "1h", tags: [tag]) }
        #expect(try await first.getOrSet("computed", as: Int.self, options: options("one")) { 1 } == 1)
        #expect(try await second.getOrSet("computed", as: Int.self, options: options("one")) { 2 } == 1, "computed once")
        try await first.set("written", 3, options: options("two"))
        #expect(try await second.get("written", as: Int.self) == 3)
        try await first.set(["bulk written": 4], options: options("three"))
        #expect(try await second.get("bulk written", as: Int.self) == 4)
        let computed = try await first.getOrSet(["bulk computed"], as: Int.self, options: options("four")) { missing in
            Dictionary(uniqueKeysWithValues: missing.map { ($0, 5) })
        }
        #expect(computed == ["bulk computed": 5])
        #expect(try await second.get("bulk computed", as: Int.self) == 5)
        // Stores of one tier, as two processes.
        let redis = try RedisStore(url: server.unixURL)
        #expect(try await redis.getOrSet("alone", as: Int.self, options: options("five")) { 6 } == 6)
        #expect(try await RedisStore(url: server.unixURL).get("alone", as: Int.self) == 6)
        try await first.close()
        try await second.close()
    }
}

@Suite("RedisStore leases on a Redis Cluster")
struct RedisClusterLeaseTests {
    @Test("a hash tag for every slot, of at most three characters and no brace")
    func tagsForEverySlot() {
        for slot in 0..<RedisClusterSlot.count {
            let tag = RedisClusterSlot.tag(for: slot)
            #expect(!tag.isEmpty && tag.count <= 3 && !tag.contains(UInt8(ascii: "}")) && !tag.contains(UInt8(ascii: "{")))
            #expect(RedisClusterSlot.of([UInt8(ascii: "{")] + tag + [UInt8(ascii: "}")]) == slot)
        }
    }

    @Test(
        "each key's lease is in the key's slot (as CLUSTER KEYSLOT says), whatever braces the key holds, and the leased write is atomic there"
    )
    func leaseInKeySlot() async throws {
        let cluster = try await RedisTestCluster.shared
        let store = try RedisStore(cluster: cluster.seeds)
        // A valid tag, no brace at all, a `}` without a valid tag, an empty tag, braces reversed.
        let keys = [
            "{user:1}:cart", "plain:\(UUID().uuidString)", "a}b:\(UUID().uuidString)", "{}x:\(UUID().uuidString)",
            "}{\(UUID().uuidString)", "x{y",
        ]
        for key in keys {
            let name = store.names.key(key)
            let lease = store.names.lease(ofKeyNamed: name)
            #expect(store.names.keyName(ofLease: lease).map(Array.init) == name)
            let quoted =
                "\""
                + lease.map { byte in
                    (32..<127).contains(byte) && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
                        ? String(UnicodeScalar(byte)) : String(format: "\\x%02x", byte)
                }.joined() + "\""
            let slot = try await cluster.servers[0].cli("--quoted-input", "CLUSTER", "KEYSLOT", quoted)
            #expect(slot.trimmingCharacters(in: .whitespacesAndNewlines) == String(RedisClusterSlot.of(name)), "\(key)")

            let taken = EntryLease.random()
            _ = try await store.leaseEntry(forKey: key, lease: taken, duration: .seconds(60))
            #expect(try await store.setEntry(StoredEntry(bytes: [1]), forKey: key, ifLeased: taken, keepingLease: true), "\(key)")
            try await store.set(key, "newer")
            #expect(!(try await store.setEntry(StoredEntry(bytes: [2]), forKey: key, ifLeased: taken, keepingLease: false)), "\(key)")
            #expect(try await store.get(key, as: String.self) == "newer")
            try await store.delete(key)
        }
        try await store.close()
    }
}
