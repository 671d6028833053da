/// The bulk computation a key's compute path belongs to, carried in a task-local value so
/// that the single-key path (single flight, the compute lock) can say when the key starts
/// waiting for someone else's computation.
struct BulkParticipant: Sendable {
    @TaskLocal static var current: BulkParticipant?

    /// The key as the compute path names it (the view's prefix applied).
    let key: String
    let batch: any BulkSettling
    /// When the bulk call began, as its store's hybrid clock stamps writes, less the clock
    /// skew it allows: the start of every computation of the batch, for its tags.
    let startedAt: Int64
    /// The tiered store's tag epoch when the bulk call began (0 for a store of one tier).
    let tagEpoch: Int

    /// The key's path waits for another caller's flight or another instance's lock: the
    /// batch need not wait for it before it computes the keys that did reach it.
    func isWaiting(forKey key: String) {
        guard key.utf8.elementsEqual(self.key.utf8) else { return }
        batch.settle(self.key, as: .waiting)
    }
}

/// Where a key's compute path stands, as a bulk computation counts it.
enum BulkSettlement: Sendable {
    /// It waits for another caller's computation, which may answer it.
    case waiting
    /// It has finished: found, computed, failed.
    case finished
}

/// A bulk computation, as a key's path tells it where it stands.
protocol BulkSettling: Sendable {
    func settle(_ key: String, as settlement: BulkSettlement)
}
