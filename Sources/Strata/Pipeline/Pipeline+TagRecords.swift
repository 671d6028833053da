/// Tag records before the writes that carry the tags.
extension Pipeline {
    /// Reads the records of `tags` before the write instant (a `set`'s) or the start (a
    /// computation's) of an entry carrying them is taken, unless this process knows them.
    ///
    /// A store that may evict its records (Redis under an `allkeys-*` policy) sets a tag's
    /// missing record to the millisecond before it found it missing, so an invalidation it held is
    /// never lost; the entries of the tag written before that instant are then invalid.
    /// Read first, the record exists before the entry is written, and, set to the
    /// millisecond before the one it was found missing in, is earlier than the entry: a new
    /// tag's first entry stays readable.
    /// A failed read is no failure of the write: the entry is written, and is at worst
    /// computed again once the record is read. In a tiered store the read is bounded by
    /// `l2Timeout` (and reported when it fails or passes it); `skipsL2` (L2 just passed it)
    /// skips the read of tags the table does not know.
    ///
    /// Tags this process knows cost one look-up under one lock.
    func prepareTags(_ tags: [String]?, skipsL2: Bool = false) async {
        guard let tags, !tags.isEmpty else { return }
        if let tiered {
            guard !tiered.tagTable.knowsAll(tags, now: clock.now().millisecondsSince1970), !skipsL2 else { return }
            // Loaded and remembered by the tag table (`tagInstants`).
            _ = try? await tiered.timedL2(tags[0], since: nil) { try await tiered.tagInstants(tags) }
            return
        }
        let prepared = StoreProcessState.of(source).preparedTags
        guard !prepared.withLock({ known in tags.allSatisfy { known.contains(ByteKey($0)) } }) else { return }
        let unknown = prepared.withLock { known in tags.filter { !known.contains(ByteKey($0)) } }
        guard !unknown.isEmpty, (try? await source.records(named: unknown.map(ReservedRecords.tagRecord))) != nil else { return }
        prepared.withLock { known in
            if known.count >= 10_000 { known.removeAll() }  // bounded: a tag read again costs one read
            known.formUnion(unknown.map(ByteKey.init))
        }
    }
}
