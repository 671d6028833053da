/// The write-through steps every write of one key shares: L2 first, then L1's copy kept
/// or dropped as the write tracker decides, then the change announced to other instances.
extension TieredStore {
    /// Writes `entry` to `source` (L2, or a view of it), then keeps `value` (or the bytes) in
    /// L1 if no other write of the key in this process raced it; announces the change. A
    /// write that fails is announced too, since L2 may hold it.
    func writeThrough(_ key: String, _ entry: StoredEntry, value: (any AnyObject & Sendable)?, to source: any KeyValueStore) async throws {
        let byteKey = ByteKey(key)
        let started = observing ? ContinuousClock.now : nil
        let ticket = tracker.beginWrite(byteKey)
        var announced = false
        do {
            // The announcement with the write, in one step, where the store can carry it.
            if let announcement = configuration.invalidationPublisher?.carriedAnnouncement(ofChangeTo: key, writtenTo: source),
                let carrier = source as? any AnnouncementCarrier
            {
                announced = try await carrier.setEntry(entry, forKey: key, announcing: announcement)
            } else {
                try await source.setEntry(entry, forKey: key)
            }
        } catch {
            // L2 may or may not hold the new value: L1 must hold neither it nor the old one,
            // and other instances' L1s neither (a bulk write that fails is announced so too).
            finishDroppingL1Copy(ticket, byteKey)
            await announce(.key(key), afterFailure: error)
            throw l2Failure(error, key: key, since: started)
        }
        await PipelineGates.shared.pass(.setAnswered, key: key, scope: ObjectIdentifier(self))
        let copy = MemoryEntry(bytes: entry.bytes, value: value, expiresAt: entry.expiresAt, keptUntil: l1Deadline())
        tracker.finishWrite(ticket, keep: { try? l1.store(byteKey, copy, hash: ticket.keyHash) }, drop: { try? l1.remove(byteKey) })
        TieredCounters.bump(counters.writes)
        report(.write, .l2, key, since: started)
        if !announced { await announce(.key(key)) }
    }

    /// Ends a write after which L1 must not keep a copy, whether or not the write raced.
    func finishDroppingL1Copy(_ ticket: WriteTracker.Ticket, _ key: ByteKey) {
        tracker.finishWrite(ticket, keep: { try? l1.remove(key) }, drop: { try? l1.remove(key) })
    }

    /// Runs an L2 call that changes `key`, then drops the L1 copy; announces the change,
    /// whether or not L2 answered (it may have made it).
    func changeInL2<Output>(_ key: String, _ change: () async throws -> Output) async throws -> Output {
        let byteKey = ByteKey(key)
        let started = observing ? ContinuousClock.now : nil
        let ticket = tracker.beginWrite(byteKey)
        let result: Output
        do {
            result = try await change()
        } catch {
            finishDroppingL1Copy(ticket, byteKey)
            await announce(.key(key), afterFailure: error)
            throw l2Failure(error, key: key, since: started)
        }
        finishDroppingL1Copy(ticket, byteKey)
        report(.invalidate, .l2, key, since: started)
        await announce(.key(key))
        return result
    }
}
