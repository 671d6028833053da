/// The spans of a history in which the process, or its cooperative pool, stalled (as a
/// ``StallWatch`` saw them): X1's delivery bound is a bound on a running process, so the
/// checker does not count them against a bound above zero.
///
/// ```swift
/// let stalls = HistoryStalls([(start: 35, end: 85)])
/// stalls.overlap(from: 30, to: 100)   // 50
/// ```
package struct HistoryStalls: Sendable, CustomStringConvertible {
    /// The spans, in nanoseconds of the history's clock, sorted and merged.
    package let spans: [(start: Int64, end: Int64)]

    /// How much of the stalled time the watch's own thread woke late (a sign that the
    /// process or the machine stalled, not only the cooperative pool).
    package let ofTheProcess: Int64

    /// No stall.
    package static let none = HistoryStalls([])

    /// The spans given, sorted and merged where they overlap; `ofTheProcess` of them were
    /// stalls of the whole process.
    package init(_ spans: [(start: Int64, end: Int64)], ofTheProcess: Int64 = 0) {
        self.ofTheProcess = ofTheProcess
        var merged: [(start: Int64, end: Int64)] = []
        for span in spans.sorted(by: { $0.start < $1.start }) where span.end > span.start {
            if let last = merged.last, span.start <= last.end {
                merged[merged.count - 1].end = max(last.end, span.end)
            } else {
                merged.append(span)
            }
        }
        self.spans = merged
    }

    /// How long the process stalled between `start` and `end`.
    package func overlap(from start: Int64, to end: Int64) -> Int64 {
        spans.reduce(0) { total, span in total + max(0, min(span.end, end) - max(span.start, start)) }
    }

    /// All the stalled time.
    package var total: Int64 { spans.reduce(0) { $0 + ($1.end - $1.start) } }

    /// The longest stall.
    package var longest: Int64 { spans.map { $0.end - $0.start }.max() ?? 0 }

    package var description: String {
        "\(spans.count) stalls, \(total / 1_000_000) ms in all (\(ofTheProcess / 1_000_000) ms of the watch's own thread), the longest \(longest / 1_000_000) ms"
    }
}
