import Strata

/// One pass of a listing's scan over a cluster's primaries: the nodes scanned, in order,
/// each with its own line of `CLUSTER NODES` (``RedisClusterNodeLine``) read just before
/// its scan (in the pipeline of its first `SCAN` page) and once its scan is done (while the
/// next node is scanned).
///
/// Scanning the primaries one after the other is exact for a slot only if no key of it
/// moved behind the cursor: a key that moves from a node not scanned yet to one scanned
/// already is seen by neither. Keys move only while their slot migrates, from the source
/// to the target; the target then claims the slot (with a new config epoch, unless it held
/// the greatest), and the source gives it up. So the pass **covers** a slot, seeing every
/// key of it that existed throughout, when a node scanned in it claimed the slot before its
/// scan and either
/// - still claims it after, with the same config epoch, and neither line shows a migration
///   of it: the node held the slot all through its scan (a migration that began and ended
///   meanwhile would have taken the slot away, or, had it come back, changed the epoch);
/// - or migrates it to a node scanned after it, as a line of either names the other, and
///   after the pass the source still claims it (migrating it) or has given it up, and the
///   target claims it or still imports it, sending it nowhere: a key moved before the
///   source's cursor reached it was on the target before the target's scan began.
///
/// A slot that migrates twice within one pass (there and back, or on to a third node with
/// no line showing the first move) is not told apart; a reshard moves each slot once.
struct RedisClusterPass {
    /// A node scanned, and its lines; `nil` for a line it did not give.
    struct Scanned {
        let node: RedisCluster.Node
        let before: RedisClusterNodeLine?
        let after: RedisClusterNodeLine?
    }

    var scanned: [Scanned] = []

    /// Takes out of `pending` the slots this pass covered; how many are left. The first
    /// rule goes by the nodes' ranges; the second is asked only of slots some line shows
    /// migrating (a few).
    func cover(_ pending: inout [Bool]) -> Int {
        var covered = [Bool](repeating: false, count: RedisClusterSlot.count)
        var migrating = Set<Int>()
        for node in scanned {
            guard let before = node.before, let after = node.after else { continue }
            migrating.formUnion(before.outgoing.keys)
            migrating.formUnion(before.incoming.keys)
            migrating.formUnion(after.outgoing.keys)
            migrating.formUnion(after.incoming.keys)
            guard before.epoch == after.epoch else { continue }
            for first in before.ranges {
                for second in after.ranges where first.overlaps(second) {
                    for slot in max(first.lowerBound, second.lowerBound)...min(first.upperBound, second.upperBound) { covered[slot] = true }
                }
            }
        }
        for slot in migrating { covered[slot] = coversByMigration(slot) }
        var left = 0
        for slot in pending.indices where pending[slot] {
            if covered[slot] { pending[slot] = false } else { left += 1 }
        }
        return left
    }

    /// Whether the pass saw every key of `slot`, a slot some line shows migrating.
    func coversByMigration(_ slot: Int) -> Bool {
        for (position, source) in scanned.enumerated() {
            guard let before = source.before, let after = source.after, before.claims(slot) else { continue }
            if after.claims(slot) && !before.migrates(slot) && !after.migrates(slot) && before.epoch == after.epoch { return true }
            // A migration away from it, seen at one end or both, the same at both.
            guard before.incoming[slot] == nil, after.incoming[slot] == nil,
                before.outgoing[slot] == nil || after.outgoing[slot] == nil || before.outgoing[slot] == after.outgoing[slot],
                after.claims(slot) == (after.outgoing[slot] != nil)  // migrating still, or given up
            else { continue }
            let named = after.outgoing[slot] ?? before.outgoing[slot]
            for target in scanned[(position + 1)...] {
                guard let targetBefore = target.before, let targetAfter = target.after,
                    named == targetAfter.id || targetBefore.incoming[slot] == before.id || targetAfter.incoming[slot] == before.id
                else { continue }
                if targetAfter.outgoing[slot] == nil && (targetAfter.claims(slot) || targetAfter.incoming[slot] == before.id) {
                    return true
                }
            }
        }
        return false
    }
}
