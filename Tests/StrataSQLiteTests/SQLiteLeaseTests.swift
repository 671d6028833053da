import Foundation
import StrataSQLite
import StrataTestSupport
import StrataTesting
import Testing

@Suite("SQLiteStore leases and records")
struct SQLiteLeaseTests {
    static func entry(_ text: String) -> StoredEntry { StoredEntry(bytes: Array(text.utf8), expiresAt: nil) }

    @Test("every change of an existing key breaks its lease, in the file; a setIfAbsent that did not write keeps it")
    func changesOfExistingKeys() async throws {
        let path = temporaryPath("lease-changes")
        let clock = ManualClock()
        let store = try SQLiteStore(configuration: .init(path: path, clock: clock))
        let raw = try RawConnection(path)
        typealias Change = @Sendable (SQLiteStore, String) async throws -> Void
        let changes: [(String, Change)] = [
            ("set", { store, key in try await store.set(key, 7) }),
            ("delete", { store, key in _ = try await store.delete(key) }),
            ("increment", { store, key in _ = try await store.increment(key) }),
            ("expire", { store, key in _ = try await store.expire(key, "2h") }),
            ("clear of a prefix", { store, key in _ = try await store.clear(prefix: String(key.prefix(2))) }),
            ("clear of everything", { store, _ in _ = try await store.clear() }),
            ("another lease", { store, key in _ = try await store.leaseEntry(forKey: key, lease: .random(), duration: .seconds(60)) }),
        ]
        for (index, (name, change)) in changes.enumerated() {
            let key = "\(index)k"
            try await store.set(key, 1, expires: "1h")
            let lease = EntryLease.random()
            #expect(try await store.leaseEntry(forKey: key, lease: lease, duration: .seconds(60)) != nil)
            try await change(store, key)
            if name != "another lease" {
                #expect(try raw.column("SELECT count(*) FROM strata_cache_leases WHERE key = '\(key)'") == ["0"], "\(name)")
            }
            #expect(try await store.setEntry(Self.entry("stale"), forKey: key, ifLeased: lease, keepingLease: false) == false, "\(name)")
        }
        // An expired row replaced by setIfAbsent: the update path of its upsert.
        try await store.set("expired", 1, expires: "1s")
        clock.advance(by: .seconds(2))
        let lease = EntryLease.random()
        _ = try await store.leaseEntry(forKey: "expired", lease: lease, duration: .seconds(60))
        #expect(try await store.setIfAbsent("expired", 2))
        #expect(try await store.setEntry(Self.entry("stale"), forKey: "expired", ifLeased: lease, keepingLease: false) == false)
        // A setIfAbsent that wrote nothing changed nothing: the lease holds.
        let kept = EntryLease.random()
        _ = try await store.leaseEntry(forKey: "expired", lease: kept, duration: .seconds(60))
        #expect(try await store.setIfAbsent("expired", 3) == false)
        #expect(try await store.setEntry(Self.entry("computed"), forKey: "expired", ifLeased: kept, keepingLease: false))
        #expect(try await store.get("expired", as: String.self) == "computed")
        try await store.close()
    }

    @Test("a lease ends on the store's clock, and sweepExpired deletes ended leases")
    func leaseEnds() async throws {
        let path = temporaryPath("lease-ends")
        let clock = ManualClock()
        let store = try SQLiteStore(configuration: .init(path: path, clock: clock))
        let raw = try RawConnection(path)
        let short = EntryLease.random()
        _ = try await store.leaseEntry(forKey: "short", lease: short, duration: .seconds(10))
        _ = try await store.leaseEntry(forKey: "long", lease: .random(), duration: .seconds(60))
        clock.advance(by: .milliseconds(9_999))
        #expect(try await store.sweepExpired() == 0)
        #expect(try raw.column("SELECT key FROM strata_cache_leases ORDER BY key") == ["long", "short"])
        clock.advance(by: .milliseconds(1))
        #expect(try await store.sweepExpired() == 0, "the count is of entries")
        #expect(try raw.column("SELECT key FROM strata_cache_leases") == ["long"])
        #expect(try await store.setEntry(Self.entry("late"), forKey: "short", ifLeased: short, keepingLease: false) == false)
        // A duration past the end of time ends at the last instant, not in an overflow.
        let endless = EntryLease.random()
        _ = try await store.leaseEntry(forKey: "endless", lease: endless, duration: .seconds(Int64.max))
        #expect(try await store.setEntry(Self.entry("v"), forKey: "endless", ifLeased: endless, keepingLease: false))
        try await store.close()
    }

    @Test(
        "a second OS process writing or deleting the key breaks this process's lease; one writing another key does not",
        .timeLimit(.minutes(1)))
    func otherProcess() async throws {
        let path = temporaryPath("lease-processes")
        let store = try SQLiteStore(path: path)
        try await store.set("present", "before")
        let cases: [(key: String, command: String, refused: Bool)] = [
            ("present", "sqlite-set", true), ("present", "sqlite-delete", true), ("missing", "sqlite-delete", true),
            ("absent", "sqlite-set", true), ("quiet", "none", false),
        ]
        for (key, command, refused) in cases {
            let lease = EntryLease.random()
            _ = try await store.leaseEntry(forKey: key, lease: lease, duration: .seconds(60))
            // The second process changes `key`, or (nothing intervening) another key of the file.
            let target = command == "none" ? "other" : key
            let fixture = try ChildProcess(
                builtExecutable("strata-fixture"), [command == "none" ? "sqlite-set" : command, path, target, "42"])
            #expect(try await fixture.exited() == 0)
            let wrote = try await store.setEntry(Self.entry("computed"), forKey: key, ifLeased: lease, keepingLease: false)
            #expect(wrote == !refused, "\(command) of \(target)")
            let value = try await store.entry(forKey: key).map { String(decoding: $0.bytes, as: UTF8.self) }
            #expect(value == (refused ? (command == "sqlite-set" ? "42" : nil) : "computed"), "\(command) of \(target)")
        }
        try await store.close()
    }

    @Test("records: one upsert keeping the greatest, in a table of their own that clear and listings never see")
    func recordTable() async throws {
        let path = temporaryPath("records")
        let store = try SQLiteStore(path: path)
        try await store.raiseRecord(named: "tag:a", to: 5)
        try await store.raiseRecord(named: "tag:a", to: 3)
        try await store.set("k", 1)
        try await store.clear()
        let raw = try RawConnection(path)
        #expect(try raw.column("SELECT name || '=' || value FROM strata_cache_records") == ["tag:a=5"])
        #expect(try raw.column("SELECT count(*) FROM strata_cache") == ["0"])
        try raw.execute("UPDATE strata_cache_records SET value = 'five'")
        await #expect(throws: StrataError.corruptEntry) { try await store.records(named: ["tag:a"]) }
        try await store.close()
    }

    @Test("a version 1 file: its tables stay, its records move out of the entries table, and it becomes version 2")
    func migration() async throws {
        let path = temporaryPath("migrate")
        let raw = try RawConnection(path)
        try raw.execute(
            """
            PRAGMA journal_mode = WAL;
            CREATE TABLE strata_cache (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires INTEGER) WITHOUT ROWID;
            CREATE INDEX strata_cache_expires ON strata_cache(expires) WHERE expires IS NOT NULL;
            INSERT INTO strata_cache VALUES ('user:1', CAST('Ada' AS BLOB), NULL);
            INSERT INTO strata_cache VALUES (CAST(x'00' || 'strata-tag:team' AS TEXT), CAST('1700000000000' AS BLOB), NULL);
            INSERT INTO strata_cache VALUES (CAST(x'00' || 'strata-envelopes' AS TEXT), CAST('1' AS BLOB), NULL);
            INSERT INTO strata_cache VALUES (CAST(x'00' || 'strata-other' AS TEXT), CAST('x' AS BLOB), NULL);
            PRAGMA user_version = 1;
            """)
        let store = try SQLiteStore(path: path)
        #expect(try raw.column("PRAGMA user_version") == ["2"])
        #expect(try await store.get("user:1", as: String.self) == "Ada")
        #expect(try await store.records(named: ["tag:team", "envelopes", "tag:none"]) == [1_700_000_000_000, 1, 0])
        #expect(try raw.column("SELECT hex(key) FROM strata_cache ORDER BY key") == ["00" + hex("strata-other"), hex("user:1")])
        try await store.close()
        // Opening it again changes nothing.
        let again = try SQLiteStore(path: path)
        #expect(try await again.records(named: ["tag:team"]) == [1_700_000_000_000])
        try await again.close()
    }

    func hex(_ text: String) -> String { text.utf8.map { String(format: "%02X", $0) }.joined() }
}
