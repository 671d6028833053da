import Foundation
import Synchronization

/// One row of the application's data, about 300 bytes as JSON.
struct Row: Codable, Sendable {
    var id: Int
    var name: String
    var summary: String
    var priceCents: Int
    var stock: Int
    var tags: [String]
    var updatedAt: String
}

/// The application's database, standing for one on another machine: a query answers after
/// `latency` (2 ms by default) and costs this machine nothing while it waits, as a query to
/// a remote database does. Every query is counted, so the driver can tell how often the
/// cache let one through.
final class Origin: Sendable {
    let latency: Duration
    private let count = Atomic<Int>(0)

    init(latency: Duration) {
        self.latency = latency
    }

    /// How many queries ran.
    var queries: Int { count.load(ordering: .relaxed) }

    /// The row of `id`, after the query's latency.
    func row(_ id: Int) async throws -> Row {
        count.add(1, ordering: .relaxed)
        try await Task.sleep(for: latency)
        return Row(
            id: id,
            name: "Product \(id)",
            summary: "A product of the end-to-end benchmark, described at about the length a catalogue gives one: "
                + "what it is, what it is made of, and why someone would want it (\(id % 97)).",
            priceCents: 100 + (id * 37) % 10_000,
            stock: (id * 13) % 500,
            tags: ["catalogue", "group-\(id % 10)", "shelf-\(id % 50)"],
            updatedAt: "2026-12-04T00:00:00Z"
        )
    }
}

/// The response body: the row as JSON, encoded the same way whatever serves it.
func body(of row: Row) throws -> [UInt8] {
    Array(try JSONEncoder().encode(row))
}

/// What `/stats` answers: the queries run since the process started.
func statsBody(_ origin: Origin) -> [UInt8] {
    Array("{\"queries\":\(origin.queries)}".utf8)
}
