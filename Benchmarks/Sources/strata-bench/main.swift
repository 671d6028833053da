// strata-bench: every Strata benchmark beside its raw baseline, measured in the same run.
//
//   swift run -c release strata-bench [--quick] [group ...] > results.jsonl
//   swift run -c release strata-bench --list      # the groups, one a line
//
// Groups: hits, hit-ratio, scaling, memory, clear, entries, resilience, redis, redis-bulk, redis-tls, fanout, tracking, redis-pinned, cluster, http, bulk, values, traces (all by default). Figures go to
// standard output as JSON lines (see Report.swift) and, readably, to standard error.
// `Benchmarks/run` runs them all and turns the result into Docs/Benchmarks.md's table and
// charts with report.py. `--quick` runs tiny sizes, to check the benchmarks still work.
import Foundation

let allGroups = [
    "hits", "misses", "hit-ratio", "scaling", "memory", "clear", "entries", "resilience", "redis", "redis-bulk", "redis-tls", "fanout",
    "tracking", "redis-pinned", "cluster", "http", "bulk", "values", "traces",
]
var arguments = Array(CommandLine.arguments.dropFirst())

if arguments.first == "footprint-child", arguments.count == 3, let count = Int(arguments[2]) {
    try await footprintChild(arguments[1], count: count)
    exit(0)
}

if arguments.first == "trace-child" {
    try await TraceChild.run(Array(arguments.dropFirst()))
    exit(0)
}

if arguments == ["--list"] {
    print(allGroups.joined(separator: "\n"))
    exit(0)
}

let quick = arguments.contains("--quick")
arguments.removeAll { $0 == "--quick" }
let groups = arguments.isEmpty ? allGroups : arguments
for group in groups {
    let started = ContinuousClock.now
    defer {
        // How long each group takes, on stderr (the figures are stdout's): what sizes a run.
        let seconds = Double((ContinuousClock.now - started).components.seconds)
        FileHandle.standardError.write(Data("strata-bench: \(group) took \(Int(seconds)) s\n".utf8))
    }
    switch group {
    case "hits": try await hitBenchmarks(quick: quick)
    case "misses": try await missBenchmarks(quick: quick)
    case "hit-ratio": try await hitRatioBenchmarks(quick: quick)
    case "scaling": try await scalingBenchmarks(quick: quick)
    case "memory": try await memoryFootprint(quick: quick)
    case "clear": try await clearBenchmarks(quick: quick)
    case "entries": try await entriesBenchmarks(quick: quick)
    case "resilience": try await resilienceBenchmarks(quick: quick)
    case "resilience-hits": try await resilienceBenchmarks(quick: quick, hitsOnly: true)
    case "redis": try await redisBenchmarks(quick: quick)
    case "redis-bulk": try await redisBulkBenchmarks(quick: quick)
    case "redis-tls": try await redisTLSBenchmarks(quick: quick)
    case "fanout": try await fanoutBenchmarks(quick: quick)
    case "tracking": try await trackingBenchmarks(quick: quick)
    case "redis-pinned": try await redisPinnedBenchmarks(quick: quick)
    case "cluster": try await clusterBenchmarks(quick: quick)
    case "http": try await httpBenchmarks(quick: quick)
    case "values": try await valueBenchmarks(quick: quick)
    case "bulk": try await bulkBenchmarks(quick: quick)
    case "traces": try await traceBenchmarks(quick: quick)
    default:
        FileHandle.standardError.write(Data("unknown group \(group); the groups are \(allGroups.joined(separator: ", "))\n".utf8))
        exit(64)
    }
}
