import Strata

/// A cluster node's own line of `CLUSTER NODES` (the line flagged `myself`), the only line
/// where a node tells its migrations:
/// `<id> <address> <flags> <primary> <ping> <pong> <config-epoch> <link> <slot or range>…
/// [<slot>->-<target id>]… [<slot>-<-<source id>]…`. Only a primary's line lists slots.
struct RedisClusterNodeLine {
    let id: String
    let epoch: UInt64
    /// The slots the node claims, as it lists them (ranges, in order).
    private(set) var ranges: [ClosedRange<Int>] = []
    /// Slots it migrates away (`MIGRATING`), and to which node (by id).
    private(set) var outgoing: [Int: String] = [:]
    /// Slots it imports (`IMPORTING`), and from which node (by id).
    private(set) var incoming: [Int: String] = [:]

    /// The line flagged `myself` in a `CLUSTER NODES` reply; `nil` when there is none.
    init?(_ text: [UInt8]) {
        for line in text.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
            guard fields.count >= 8, fields[2].split(separator: ",").contains("myself"), let epoch = UInt64(fields[6]) else { continue }
            id = fields[0]
            self.epoch = epoch
            for field in fields.dropFirst(8) {
                if field.hasPrefix("[") && field.hasSuffix("]") {
                    let inside = field.dropFirst().dropLast()
                    if let marker = inside.firstRange(of: "->-"), let slot = Int(inside[..<marker.lowerBound]) {
                        outgoing[slot] = String(inside[marker.upperBound...])
                    } else if let marker = inside.firstRange(of: "-<-"), let slot = Int(inside[..<marker.lowerBound]) {
                        incoming[slot] = String(inside[marker.upperBound...])
                    }
                    continue
                }
                let bounds = field.split(separator: "-").compactMap { Int($0) }
                guard let first = bounds.first, let last = bounds.last, first >= 0, last < RedisClusterSlot.count, first <= last
                else { continue }
                ranges.append(first...last)
            }
            return
        }
        return nil
    }

    /// Whether the node claims `slot`.
    func claims(_ slot: Int) -> Bool { ranges.contains { $0.contains(slot) } }

    /// Whether the node is in a migration of `slot`, either way.
    func migrates(_ slot: Int) -> Bool { outgoing[slot] != nil || incoming[slot] != nil }
}
