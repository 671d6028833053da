import Foundation
import Strata
import StrataRedis
import StrataSQLite

/// What the resilience options cost: a getOrSet hit with options beside one without, a
/// tagged L1 hit beside an untagged one, a tagged write beside an untagged one (a
/// `MemoryStore`, a tiered store over two; interleaved rounds, one run), and
/// `invalidate(tags:)` of 10,000 tagged entries beside `clear(prefix:)` of 10,000 keys on
/// each store (median of 3).
nonisolated func resilienceBenchmarks(quick: Bool, hitsOnly: Bool = false) async throws {
    heading("Resilience: the cost of options and tags (median ns per operation; invalidation in ms)")
    let report = Report.shared
    let group = "resilience"
    let keyCount = quick ? 1_000 : 20_000
    let directory = try temporaryDirectory("resilience")
    defer { try? FileManager.default.removeItem(atPath: directory) }

    let tiered = TieredStore(l1: MemoryStore(), l2: try SQLiteStore(path: directory + "/hits.sqlite"))
    // A key set per measurement, each read by that measurement alone: every measurement then
    // finds its entries as cold as the others' (seven measurements since it last read them).
    // With shared sets, a measurement whose keys the one before it had just read ran warm:
    // the untagged hit read the keys of the getOrSet measured just before it, and the tagged
    // hit, 1.54x it in the run of 2026-12-05 11:33 UTC, was 1.08x-1.10x when only the two
    // alternated. Every key is at most 15 bytes, which Swift keeps inside the string: a longer
    // one is a heap object more per look-up (keys of 19-30 bytes made one set 1.35x another).
    func keys(_ name: String) -> [String] { (0..<keyCount).map { "\(name):\($0)" } }
    let plainComputeKeys = keys("compute")
    let plainComputeNoCaptureKeys = keys("computen")
    let optionKeys = keys("options")
    let optionNoCaptureKeys = keys("optionsn")
    let plainKeys = keys("plain")
    let taggedKeys = keys("tagged")
    let graceKeys = keys("grace")
    let plainEscapingKeys = keys("computee")
    let profile = Profile(id: 1, name: "Ada", score: 9.5)
    let options = EntryOptions(expires: "1h", grace: "1h", softTimeout: .milliseconds(100), hardTimeout: .seconds(2))
    for index in 0..<keyCount {
        for plain in [plainComputeKeys, plainComputeNoCaptureKeys, plainKeys] {
            try await tiered.set(plain[index], profile, expires: "1h")
        }
        // The floor's entries are written with the options too, so that it differs from the
        // call with options by the call alone.
        for withOptions in [optionKeys, optionNoCaptureKeys, graceKeys, plainEscapingKeys] {
            try await tiered.set(withOptions[index], profile, options: options)
        }
        try await tiered.set(taggedKeys[index], profile, options: EntryOptions(expires: "1h", tags: ["team:\(index % 100)"]))
    }
    // Writes with options, with and without a tag (one of 100, each known to the process
    // after its first write): a tagged write reads the records of tags it does not know
    // before its start (T3), and looks up those it does.
    let memory = MemoryStore()
    let writeTiered = TieredStore(l1: MemoryStore(), l2: MemoryStore())
    let untaggedOptions = EntryOptions(expires: "1h")
    let taggedOptions = (0..<100).map { EntryOptions(expires: "1h", tags: ["team:\($0)"]) }
    var rounds = InterleavedRounds(rounds: quick ? 2 : 15, operationsPerRound: quick ? 1_000 : 20_000)
    for _ in 0..<rounds.rounds {
        try await rounds.measure("MemoryStore set with options, untagged", keyCount: keyCount) { index in
            try await memory.set(plainKeys[index], profile, options: untaggedOptions)
        }
        try await rounds.measure("MemoryStore set with options, one tag", keyCount: keyCount) { index in
            try await memory.set(taggedKeys[index], profile, options: taggedOptions[index % 100])
        }
        try await rounds.measure("TieredStore set with options, untagged (memory tiers)", keyCount: keyCount) { index in
            try await writeTiered.set(plainKeys[index], profile, options: untaggedOptions)
        }
        try await rounds.measure("TieredStore set with options, one tag (memory tiers)", keyCount: keyCount) { index in
            try await writeTiered.set(taggedKeys[index], profile, options: taggedOptions[index % 100])
        }
        try await rounds.measure("getOrSet hit, no options", keyCount: keyCount) { index in
            _ = try await tiered.getOrSet(plainComputeKeys[index], as: Profile.self) { profile }
        }
        try await rounds.measure("getOrSet hit, with options (grace, timeouts)", keyCount: keyCount) { index in
            _ = try await tiered.getOrSet(optionKeys[index], as: Profile.self, options: options) { profile }
        }
        try await rounds.measure("getOrSet hit, with options, closure capturing nothing", keyCount: keyCount) { index in
            _ = try await tiered.getOrSet(optionNoCaptureKeys[index], as: Profile.self, options: options) {
                Profile(id: 1, name: "Ada", score: 9.5)
            }
        }
        try await rounds.measure("getOrSet hit, no options, closure capturing nothing", keyCount: keyCount) { index in
            _ = try await tiered.getOrSet(plainComputeNoCaptureKeys[index], as: Profile.self) { Profile(id: 1, name: "Ada", score: 9.5) }
        }
        // What the call with options pays that the call without does not, whatever the store
        // does: its computation escapes (it may go on past a soft timeout), so a closure that
        // captures a value is allocated and freed on every call, hit or not.
        try await rounds.measure("getOrSet hit, no options, and an escaping closure made", keyCount: keyCount) { index in
            // An entry written with the options, read by the call without them.
            makeEscaping { profile }
            _ = try await tiered.getOrSet(plainEscapingKeys[index], as: Profile.self) { profile }
        }
        try await rounds.measure("L1 hit, untagged", keyCount: keyCount) { _ = try await tiered.get(plainKeys[$0], as: Profile.self) }
        try await rounds.measure("L1 hit, tagged", keyCount: keyCount) { _ = try await tiered.get(taggedKeys[$0], as: Profile.self) }
        try await rounds.measure("L1 hit, grace", keyCount: keyCount) { _ = try await tiered.get(graceKeys[$0], as: Profile.self) }
    }
    let plainHit = rounds.median("getOrSet hit, no options")
    report.record(group, "TieredStore getOrSet hit, no options", plainHit)
    report.compare(
        group, "TieredStore getOrSet hit, with options (grace, timeouts)",
        rounds.median("getOrSet hit, with options (grace, timeouts)"), to: "TieredStore getOrSet hit, no options", plainHit)
    let plainNoCapture = rounds.median("getOrSet hit, no options, closure capturing nothing")
    report.record(group, "TieredStore getOrSet hit, no options, closure capturing nothing", plainNoCapture)
    report.compare(
        group, "TieredStore getOrSet hit, with options, closure capturing nothing",
        rounds.median("getOrSet hit, with options, closure capturing nothing"),
        to: "TieredStore getOrSet hit, no options, closure capturing nothing", plainNoCapture)
    report.compare(
        group, "TieredStore getOrSet hit, with options (grace, timeouts), against the floor",
        rounds.median("getOrSet hit, with options (grace, timeouts)"),
        to: "TieredStore getOrSet hit, no options, of an entry with the options, and an escaping closure made",
        rounds.median("getOrSet hit, no options, and an escaping closure made"))
    let untagged = rounds.median("L1 hit, untagged")
    report.record(group, "TieredStore L1 hit, untagged", untagged)
    report.compare(group, "TieredStore L1 hit, tagged", rounds.median("L1 hit, tagged"), to: "TieredStore L1 hit, untagged", untagged)
    report.compare(
        group, "TieredStore L1 hit, with a grace", rounds.median("L1 hit, grace"), to: "TieredStore L1 hit, untagged", untagged)
    let untaggedWrite = rounds.median("MemoryStore set with options, untagged")
    report.record(group, "MemoryStore set with options, untagged", untaggedWrite)
    report.compare(
        group, "MemoryStore set with options, one tag", rounds.median("MemoryStore set with options, one tag"),
        to: "MemoryStore set with options, untagged", untaggedWrite)
    let untaggedTieredWrite = rounds.median("TieredStore set with options, untagged (memory tiers)")
    report.record(group, "TieredStore set with options, untagged (memory tiers)", untaggedTieredWrite)
    report.compare(
        group, "TieredStore set with options, one tag (memory tiers)",
        rounds.median("TieredStore set with options, one tag (memory tiers)"),
        to: "TieredStore set with options, untagged (memory tiers)", untaggedTieredWrite)
    try await tiered.close()
    try await writeTiered.close()
    if hitsOnly { return }

    // invalidate(tags:) of 10,000 entries vs clear(prefix:) of 10,000 keys, per store.
    let count = quick ? 200 : 10_000
    let redis = try await LocalRedis()
    defer { redis.stop() }
    let stores: [(String, any KeyValueStore)] = [
        ("MemoryStore", MemoryStore()),
        ("FolderStore", try FolderStore(directory: directory + "/folder")),
        ("SQLiteStore", try SQLiteStore(path: directory + "/tags.sqlite")),
        ("RedisStore", try RedisStore(url: redis.url)),
        ("TieredStore (memory over SQLite)", TieredStore(l1: MemoryStore(), l2: try SQLiteStore(path: directory + "/tiered.sqlite"))),
    ]
    let clock = ContinuousClock()
    for (name, store) in stores {
        var invalidations: [Double] = []
        var clears: [Double] = []
        for round in 0..<3 {
            for index in 0..<count {
                try await store.set("tagged:\(index)", "v", options: EntryOptions(expires: "1h", tags: ["round:\(round)"]))
            }
            invalidations.append(nanoseconds(try await clock.measure { try await store.invalidate(tags: ["round:\(round)"]) }))
            clears.append(nanoseconds(try await clock.measure { try await store.clear(prefix: "tagged:") }))
        }
        let clear = median(clears)
        report.record(group, "\(name) clear(prefix:) of \(count) keys", clear)
        report.compare(
            group, "\(name) invalidate(tags:) of \(count) entries", median(invalidations),
            to: "\(name) clear(prefix:) of \(count) keys", clear)
        try await store.close()
    }
}

/// Takes an escaping closure as `getOrSet(_:as:options:compute:)` does, and drops it: the
/// caller allocates the closure's context, as it does for such a call.
@inline(never) @_optimize(none)
func makeEscaping<Value>(_ compute: @escaping @Sendable () async throws -> Value) {}
