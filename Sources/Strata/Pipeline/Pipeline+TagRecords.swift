/// Tag records before the writes that carry the tags.
extension Pipeline {
    /// Reads the records of `tags` before the write instant (a `set`'s) or the start (a
    /// computation's) of an entry carrying them is taken, unless this process knows them.
    ///
    /// A store that may evict its records (Redis under an `allkeys-*` policy) sets a tag's
    /// missing record to the instant it found it missing, so an invalidation it held is
    /// never lost; the entries of the tag written before that instant are then invalid.
    /// Read first, the record exists before the entry is written, and the entry is later
    /// than it (``HybridClock/observe(_:now:)``): a new tag's first entry stays readable.
    /// A failed read is no failure of the write: the entry is written, and is at worst
    /// computed again once the record is read. In a tiered store the read is bounded by
    /// `l2Timeout` (and reported when it fails or passes it); `skipsL2` (L2 just passed it)
    /// skips the read of tags the table does not know.
    func prepareTags(_ tags: [String]?, skipsL2: Bool = false) async {
        guard let tags, !tags.isEmpty else { return }
        let instants: [Int64]
        if let tiered {
            if let known = tiered.knownTagInstants(tags) {
                instants = known
            } else {
                guard !skipsL2, let loaded = try? await tiered.timedL2(tags[0], since: nil, { try await tiered.tagInstants(tags) })
                else { return }
                instants = loaded
            }
        } else {
            let prepared = StoreProcessState.of(source).preparedTags
            let unknown = prepared.withLock { known in tags.filter { !known.contains($0) } }
            guard !unknown.isEmpty, let read = try? await source.records(named: unknown.map(ReservedRecords.tagRecord)) else {
                return
            }
            prepared.withLock { known in
                if known.count >= 10_000 { known.removeAll() }  // bounded: a tag read again costs one read
                known.formUnion(unknown)
            }
            instants = read
        }
        hybridClock.observe(instants, now: clock.now().millisecondsSince1970)
    }
}
