/// Tags over both tiers: instants recorded in L2 (max-merged), known in this process through
/// the tag table, and announced to other instances.
extension TieredStore {
    /// Whether an envelope's tags are all valid (each last invalidated before the entry was
    /// written), loading the instants the table does not know from L2 in one call.
    func tagsAreValid(_ envelope: EntryEnvelope) async throws -> Bool {
        let now = clock.now().millisecondsSince1970
        var unknown: [String] = []
        for tag in envelope.tags {
            guard let instant = tagTable.invalidatedAt(tag, now: now) else {
                unknown.append(tag)
                continue
            }
            if instant >= envelope.writtenAt { return false }  // invalid whatever the others hold
        }
        guard !unknown.isEmpty else { return true }
        return try await loadTagInstants(unknown).allSatisfy { $0 < envelope.writtenAt }
    }

    /// The instants of `tags`: the tag table's, and those it does not know loaded from L2
    /// in one call (and remembered).
    func tagInstants(_ tags: [String]) async throws -> [Int64] {
        let now = clock.now().millisecondsSince1970
        var instants = tags.map { tagTable.invalidatedAt($0, now: now) }
        let unknown = zip(tags, instants).compactMap { $1 == nil ? $0 : nil }
        guard !unknown.isEmpty else { return instants.map { $0! } }
        var loaded = try await loadTagInstants(unknown).makeIterator()
        for index in instants.indices where instants[index] == nil { instants[index] = loaded.next() }
        return instants.map { $0! }
    }

    /// Loads the instants of `tags`, which the table does not know, from L2 in one call, and
    /// remembers them. A remote invalidation that arrives while they load makes the table
    /// refuse them (they may be older than it, T5); the caller still uses them: it is
    /// concurrent with that invalidation.
    private func loadTagInstants(_ tags: [String]) async throws -> [Int64] {
        let generation = tagTable.generation
        let instants = try await l2.records(named: tags.map(ReservedRecords.tagRecord))
        for tag in tags { await PipelineGates.shared.pass(.loadingTag, key: tag, scope: ObjectIdentifier(self)) }
        let until = tagInstantDeadline()
        for (tag, instant) in zip(tags, instants) {
            tagTable.remember(tag, invalidatedAt: instant, until: until, ifGeneration: generation)
        }
        return instants
    }

    /// Whether an envelope's tags are all valid as far as the tag table knows, with no L2
    /// call: `false` when one of them is unknown here (or invalidated at or after the write).
    func tagsAreKnownValid(_ envelope: EntryEnvelope) -> Bool {
        let now = clock.now().millisecondsSince1970
        return envelope.tags.allSatisfy { tag in tagTable.invalidatedAt(tag, now: now).map { $0 < envelope.writtenAt } ?? false }
    }

    /// Until when a tag's instant read now is known (milliseconds since 1970): as an L1
    /// copy (``l1Deadline()``), and on a store without an invalidation source
    /// `undeliveredL1Expiry` at most, since nothing would tell it of another instance's
    /// invalidation: an entry it reads from L2 after one is then refused within that bound.
    func tagInstantDeadline() -> Int64 {
        var deadline = l1Deadline()
        if !delivery.hasSource, let cap = configuration.undeliveredL1Expiry.deadline(from: clock.now()) {
            deadline = min(deadline ?? cap, cap)
        }
        return deadline?.millisecondsSince1970 ?? Int64.max
    }

    /// L2's records (the source of truth).
    public func records(named names: [String]) async throws -> [Int64] {
        try await l2.records(named: names)
    }

    /// Raises L2's record; a tag's invalidation also goes into the tag table (so L1 copies
    /// carrying it are checked again), is counted, and is announced to other instances.
    public func raiseRecord(named name: String, to value: Int64) async throws {
        try await raiseRecord(named: name, to: value, in: l2)
    }

    /// `raiseRecord` through `source` (L2, or a wrapper of it).
    ///
    /// A tag's raise that fails may still have been made (a reply lost, a timeout after the
    /// request was sent): as for any failed change (X1), it is applied to the tag table
    /// all the same (this instance's copies carrying the tag are refused until the
    /// instant's deadline: misses, never a value the raise invalidated) and announced
    /// (other instances load the tag's instant from L2 again). Not when L2 refused it as
    /// `closed`: it sent nothing.
    func raiseRecord(named name: String, to value: Int64, in source: any KeyValueStore) async throws {
        let started = observing ? ContinuousClock.now : nil
        let tag = KeyRules.remainder(of: name, afterPrefix: "tag:")
        do {
            try await source.raiseRecord(named: name, to: value)
        } catch {
            if let tag, (error as? StrataError)?.code != .closed {
                tagTable.raise(tag, to: value, until: tagInstantDeadline())
                await announce(.key(TagInvalidations.key(for: tag)))
            }
            throw l2Failure(error, key: name, since: started)
        }
        guard let tag else { return }
        tagTable.raise(tag, to: value, until: tagInstantDeadline())
        TieredCounters.bump(counters.tagInvalidations)
        report(.tagInvalidation, .l2, tag, since: started)
        await announce(.key(TagInvalidations.key(for: tag)))
    }
}
