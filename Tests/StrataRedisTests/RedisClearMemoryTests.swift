import Foundation
import Strata
import StrataTestSupport
import Testing

@testable import StrataRedis

/// `clear(prefix:)` runs in memory that does not grow with the keyspace: it keeps no set
/// of the names it removed (deleting a name twice is harmless, and `UNLINK` counts only
/// what it removed, so the count stays exact).
@Suite("RedisStore clear(prefix:) memory")
struct RedisClearMemoryTests {
    /// Resident and peak resident memory of this process, in bytes (`/proc/self/status`).
    static func memory() -> (resident: Int, peak: Int) {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1_024
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    @Test(
        "clear(prefix:) of 200,000 keys keeps no set of their names, and counts each key once; a listing still returns each key once",
        .timeLimit(.minutes(2)))
    func clearKeepsNoNames() async throws {
        let server = try await RedisTestServer()
        // 200,000 keys written by the server itself (one script), 64 bytes each.
        let filled = try await server.cli(
            "EVAL", "for i = 1, tonumber(ARGV[1]) do redis.call('SET', ARGV[2] .. i, string.rep('v', 64)) end return 1",
            "0", "200000", "mem:")
        #expect(filled.hasPrefix("1"), "\(filled)")
        let store = try RedisStore(url: server.unixURL)
        #expect(try await store.keys(prefix: "mem:1999").count == 111)  // mem:1999, mem:19990…, mem:199900…
        store.largestScanSet.store(0, ordering: .relaxed)

        let before = Self.memory()
        let started = ContinuousClock.now
        let removed = try await store.clear(prefix: "mem:")
        let took = ContinuousClock.now - started
        let after = Self.memory()
        print(
            """
            clear(prefix:) of 200,000 keys: \(took); names held by its scan: \(store.largestScanSet.load(ordering: .relaxed)); \
            resident \(before.resident >> 20) MiB before, \(after.resident >> 20) MiB after, peak grew by \((after.peak - before.peak) >> 20) MiB
            """)
        #expect(removed == 200_000)
        #expect(store.largestScanSet.load(ordering: .relaxed) == 0, "the clear kept a set of the names it removed")
        #expect(try await store.keys(prefix: "mem:").isEmpty)

        // A listing keeps its set: it returns every key once anyway.
        for index in 0..<1_000 { try await store.set("list:\(index)", index) }
        store.largestScanSet.store(0, ordering: .relaxed)
        #expect(try await store.keys(prefix: "list:").count == 1_000)
        #expect(store.largestScanSet.load(ordering: .relaxed) == 1_000)
        try await store.close()
    }
}
