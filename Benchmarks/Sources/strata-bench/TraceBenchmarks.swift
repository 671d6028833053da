import Foundation
import Strata

/// Hit ratio on real traces: the ARC paper's OLTP, P3 and P6 (Nimrod Megiddo and Dharmendra
/// S. Modha, "ARC: A Self-Tuning, Low Overhead Replacement Cache", FAST 03), from
/// `../shared/traces` (or `STRATA_TRACES`), at the sizes of `references/traces.json`. Each
/// request reads a page and, on a miss, writes it, as a read-through cache does.
///
/// MemoryStore's default policy (W-TinyLFU with its adaptive window) with one shard and
/// with the default sharding, each replayed in `seeds` processes of their own: Swift seeds its
/// hashes per process, and the sketch's counters and the shards follow the hashes, so a
/// figure is the median and its note the range over those processes. Exact LRU, which the
/// seed does not move, is replayed once. Beside
/// them, Belady's offline optimum; `references/replay_references.py` adds the reference
/// implementations (libCacheSim and Caffeine) to the same run.
nonisolated func traceBenchmarks(quick: Bool) async throws {
    heading("Hit ratio on the ARC paper's traces (% of requests; median and range over processes)")
    guard let traceDirectory = TraceFiles.directory() else {
        FileHandle.standardError.write(Data("  no trace directory (../shared/traces or STRATA_TRACES): the traces group is skipped\n".utf8))
        return
    }
    let report = Report.shared
    let seeds = quick ? 1 : 3
    let limit = quick ? 20_000 : Int.max
    for trace in try TraceFiles.catalogue() where !quick || trace.name == "OLTP" {
        let path = traceDirectory + "/" + trace.file
        guard FileManager.default.fileExists(atPath: path) else {
            FileHandle.standardError.write(Data("  \(path) is missing: \(trace.name) is skipped\n".utf8))
            continue
        }
        let pages = try TraceFiles.pages(path, limit: limit)
        // Every replay of the trace, two processes at a time (the machine's two cores), the
        // next started as soon as one ends; exact LRU once, as the hash seed does not move it.
        // Belady's optimum is computed here while the children run.
        let jobs = trace.sizes.flatMap { size in
            TracePolicy.allCases.flatMap { policy in
                Array(repeating: (size: size, policy: policy), count: policy.followsHashSeed ? seeds : 1)
            }
        }
        var ratios: [Int: [TracePolicy: [Double]]] = [:]
        var optima: [Int: Double] = [:]
        var running: [(size: Int, policy: TracePolicy, child: TraceChild)] = []
        var next = 0
        while next < jobs.count || !running.isEmpty {
            while running.count < 2 && next < jobs.count {
                let job = jobs[next]
                running.append((job.size, job.policy, try TraceChild(path: path, size: job.size, policy: job.policy, limit: limit)))
                next += 1
            }
            if let size = trace.sizes.first(where: { optima[$0] == nil }) {
                optima[size] = beladyHitRatio(pages, capacity: size) * 100
                continue
            }
            let done = running.removeFirst()
            ratios[done.size, default: [:]][done.policy, default: []].append(try done.child.ratio())
        }
        for size in trace.sizes {
            for policy in TracePolicy.allCases {
                let sorted = ratios[size]![policy]!.sorted()
                let median = sorted[sorted.count / 2]
                let range = String(
                    format: "%.2f–%.2f over %d process%@", sorted.first!, sorted.last!, sorted.count, sorted.count == 1 ? "" : "es")
                report.record(
                    "traces", "\(trace.name), \(size.formatted()) pages: \(policy.label)", median, unit: "%", x: Double(size),
                    series: policy.label, note: range)
            }
            report.record(
                "traces", "\(trace.name), \(size.formatted()) pages: Belady (offline optimum)", optima[size]!, unit: "%",
                x: Double(size), series: "Belady (offline optimum)")
        }
    }
}

/// The policies replayed, each as a `MemoryStore` configuration.
enum TracePolicy: String, CaseIterable {
    case defaultOneShard = "default-one-shard"
    case defaultSharded = "default-sharded"
    case lruOneShard = "lru-one-shard"

    var label: String {
        switch self {
        case .defaultOneShard: "Strata default, one shard"
        case .defaultSharded: "Strata default, sharded"
        case .lruOneShard: "Strata LRU, one shard"
        }
    }

    /// Whether the figure moves with Swift's per-process hash seed: W-TinyLFU's sketch and the
    /// shards follow the hashes; exact LRU in one shard does not (its range over three
    /// processes was a single figure on every trace and size).
    var followsHashSeed: Bool { self != .lruOneShard }

    func configuration(size: Int) -> MemoryStore.Configuration {
        var configuration = MemoryStore.Configuration(maxEntries: size)
        if self == .lruOneShard { configuration.evictionPolicy = .lru }
        if self != .defaultSharded { configuration.shardCount = 1 }
        return configuration
    }
}

/// One replay in a process of its own (`strata-bench trace-child PATH SIZE POLICY LIMIT`),
/// which prints its hit ratio.
struct TraceChild {
    private let process = Process()
    private let output = Pipe()

    init(path: String, size: Int, policy: TracePolicy, limit: Int) throws {
        process.executableURL = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["trace-child", path, String(size), policy.rawValue, String(limit)]
        process.standardOutput = output
        try process.run()
    }

    func ratio() throws -> Double {
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0, let ratio = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BenchmarkError(message: "a trace replay failed (status \(process.terminationStatus)): \(text)")
        }
        return ratio
    }

    /// The child's side: replays the trace and prints the hit ratio (% of requests).
    static func run(_ arguments: [String]) async throws {
        guard arguments.count == 4, let size = Int(arguments[1]), let policy = TracePolicy(rawValue: arguments[2]),
            let limit = Int(arguments[3])
        else { throw BenchmarkError(message: "usage: trace-child PATH SIZE POLICY LIMIT") }
        let pages = try TraceFiles.pages(arguments[0], limit: limit)
        let store = MemoryStore(configuration: policy.configuration(size: size))
        let present = StoredEntry(bytes: [1])
        var hits = 0
        for page in pages {
            let key = String(page)
            if try await store.entry(forKey: key) != nil {
                hits += 1
            } else {
                try await store.setEntry(present, forKey: key)
            }
        }
        print(Double(hits) / Double(pages.count) * 100)
    }
}

/// Where the traces are, which ones and at which sizes, and their pages.
enum TraceFiles {
    struct Trace: Decodable {
        let name: String
        let file: String
        let sizes: [Int]
    }

    /// `STRATA_TRACES`, else `shared/traces` beside the repository.
    static func directory() -> String? {
        if let given = ProcessInfo.processInfo.environment["STRATA_TRACES"] { return given }
        let repository = benchmarksDirectory.deletingLastPathComponent()
        let beside = repository.deletingLastPathComponent().appendingPathComponent("shared/traces").path
        return FileManager.default.fileExists(atPath: beside) ? beside : nil
    }

    /// `Benchmarks/`, from the path the executable was started by (`.build/release/strata-bench`).
    static var benchmarksDirectory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func catalogue() throws -> [Trace] {
        struct Catalogue: Decodable { let traces: [Trace] }
        let data = try Data(contentsOf: benchmarksDirectory.appendingPathComponent("references/traces.json"))
        return try JSONDecoder().decode(Catalogue.self, from: data).traces
    }

    /// The pages the trace at `path` requests, in order, at most `limit`: each line
    /// `start count _ _` requests the pages `start ..< start + count`.
    static func pages(_ path: String, limit: Int) throws -> [Int] {
        let decompress = Process()
        decompress.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        decompress.arguments = ["zstd", "-dc", path]
        let output = Pipe()
        decompress.standardOutput = output
        try decompress.run()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        decompress.waitUntilExit()
        guard decompress.terminationStatus == 0 else { throw BenchmarkError(message: "zstd -dc \(path) failed") }
        var pages: [Int] = []
        var fields = [0, 0]
        var field = 0
        var inNumber = false
        for byte in text + [UInt8(ascii: "\n")] {  // a last line without its newline too
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                if field < 2 { fields[field] = fields[field] * 10 + Int(byte - UInt8(ascii: "0")) }
                inNumber = true
            } else if byte == UInt8(ascii: "\n") {
                if field >= 1 || inNumber {
                    for page in fields[0]..<fields[0] + fields[1] where pages.count < limit { pages.append(page) }
                }
                if pages.count >= limit { break }
                fields = [0, 0]
                field = 0
                inNumber = false
            } else if inNumber {
                field += 1
                inNumber = false
            }
        }
        return pages
    }
}
