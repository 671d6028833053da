import Foundation
import Synchronization

/// One figure of a benchmark run, written as a JSON line that `report.py` turns into the
/// table and the charts of Docs/Benchmarks.md.
///
/// `ratio` is always a cost ratio: Strata's time per operation (or memory per entry) over
/// the baseline's, so 1x means "as cheap as the raw call" and below 1x means cheaper.
struct Figure: Codable {
    var group: String
    var name: String
    var unit: String
    var value: Double
    var baseline: String?
    var baselineValue: Double?
    var ratio: Double?
    /// For scaling figures: the x coordinate (entries, tasks) and the series it belongs to.
    var x: Double?
    var series: String?
    var note: String?
}

/// Collects figures, prints them for people (stderr) and as JSON lines (stdout).
final class Report: Sendable {
    static let shared = Report()
    private let figures = Mutex<[Figure]>([])

    func add(_ figure: Figure) {
        figures.withLock { $0.append(figure) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let line = String(decoding: try! encoder.encode(figure), as: UTF8.self)
        print(line)
        var text = "  \(figure.name.padding(toLength: 58, withPad: " ", startingAt: 0)) \(Self.format(figure.value, figure.unit))"
        if let baseline = figure.baseline, let baselineValue = figure.baselineValue, let ratio = figure.ratio {
            text += String(format: "   %.2fx  %@ (%@)", ratio, baseline, Self.format(baselineValue, figure.unit))
        }
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// A figure compared with a baseline measured in the same run.
    func compare(
        _ group: String, _ name: String, _ value: Double, to baseline: String, _ baselineValue: Double,
        unit: String = "ns", x: Double? = nil, series: String? = nil, note: String? = nil
    ) {
        add(
            Figure(
                group: group, name: name, unit: unit, value: value, baseline: baseline, baselineValue: baselineValue,
                ratio: value / baselineValue, x: x, series: series, note: note))
    }

    /// A figure on its own (a baseline, or a measurement without one).
    func record(
        _ group: String, _ name: String, _ value: Double, unit: String = "ns", x: Double? = nil, series: String? = nil, note: String? = nil
    ) {
        add(Figure(group: group, name: name, unit: unit, value: value, x: x, series: series, note: note))
    }

    static func format(_ value: Double, _ unit: String) -> String {
        switch unit {
        case "ns" where value >= 1_000_000: String(format: "%9.2f ms", value / 1_000_000)
        case "ns" where value >= 10_000: String(format: "%9.1f µs", value / 1_000)
        case "ns": String(format: "%9.0f ns", value)
        default: String(format: "%9.1f %@", value, unit)
        }
    }
}

func heading(_ text: String) {
    FileHandle.standardError.write(Data("\n\(text)\n".utf8))
}

/// Nanoseconds in a duration.
func nanoseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

/// Interleaved rounds: every operation is measured once per round, in turn, so a machine
/// whose speed drifts (a shared VM) affects both sides of a ratio alike. The figure is the
/// median round's time per operation.
struct InterleavedRounds {
    var rounds: Int
    var operationsPerRound: Int
    private(set) var samples: [String: [Double]] = [:]
    private var order: [String] = []
    private var cursor = 0

    init(rounds: Int = 7, operationsPerRound: Int) {
        self.rounds = rounds
        self.operationsPerRound = operationsPerRound
    }

    /// Key indexes in a random order, the same in every run. Not a fixed stride over the
    /// keys: a stride walks a store's table (kept in insertion order) in a pattern the
    /// memory system rewards, which a hashed baseline never gets, and which flattered one
    /// table against a store in shards.
    static let randomIndexes: [Int] = {
        var generator = TraceRandom(seed: 7_919)
        return (0..<(1 << 20)).map { _ in Int(truncatingIfNeeded: generator.next() >> 1) }
    }()

    /// Runs `body` `operationsPerRound` times (or `operations`, for an operation slow enough
    /// that fewer make a steady figure) with indexes in a random order over the key set.
    mutating func measure(
        _ name: String, keyCount: Int, operations: Int? = nil, _ body: (Int) async throws -> Void
    ) async rethrows {
        let count = min(operations ?? operationsPerRound, operationsPerRound)
        let start = cursor
        cursor += count
        let indexes = Self.randomIndexes
        let elapsed = try await ContinuousClock().measure {
            for index in 0..<count { try await body(indexes[(start + index) & (indexes.count - 1)] % keyCount) }
        }
        if samples[name] == nil { order.append(name) }
        samples[name, default: []].append(nanoseconds(elapsed) / Double(count))
    }

    func median(_ name: String) -> Double { strata_bench.median(samples[name]!) }
}
