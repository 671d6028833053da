/// Checks a ``ConsistencyHistory`` against the model of `Docs/Consistency.md` (see there for
/// the rules; ``ConsistencyHistory`` for what is checked).
struct HistoryChecker {
    typealias Operation = ConsistencyHistory.Operation

    /// Something that set what a key holds: a value, or nothing.
    struct Write {
        let operation: Operation?
        let value: String?
        let tags: [String]
        let instance: Int
        /// When it may have taken effect, at the earliest.
        let begins: Int64
        /// A change of the key that begins after this instant is ordered after the write:
        /// the write's end, or for a computed value its computation's start (its miss is
        /// before: the stale-set rule orders every change that began after it).
        let orderedAfter: Int64
        /// It certainly took effect by its end (a computed value may have been refused).
        let certain: Bool
        let end: Int64
        /// The tag it invalidated, for an invalidation.
        let invalidatedTag: String?
    }

    let operations: [Operation]
    let deliveryBound: Int64
    /// When the process stalled: the delivery bound does not run then.
    let stalls: HistoryStalls

    init(operations: [Operation], deliveryBound: Duration, stalls: HistoryStalls = .none) {
        self.operations = operations.sorted { $0.start < $1.start }
        self.stalls = stalls
        self.deliveryBound = deliveryBound.components.seconds * 1_000_000_000 + deliveryBound.components.attoseconds / 1_000_000_000
    }

    func violations() -> [String] {
        var found: [String] = []
        let computedValues = Dictionary(
            operations.compactMap { operation -> (String, Operation)? in
                guard operation.computed != nil, case .some(.some(let value)) = operation.result else { return nil }
                return (value, operation)
            }, uniquingKeysWith: { first, _ in first })
        for key in ConsistencyHistory.keys {
            let writes = self.writes(of: key)
            var explainedReads: [(read: Operation, write: Write)] = []
            for read in operations where read.target == key && (read.kind == .get || read.kind == .getOrSet) {
                guard case .some(let result) = read.result, read.computed == nil else { continue }
                // A caller that waited for another's computation (single flight) gets its value,
                // unless a change of the key in its instance overtook that value before the
                // caller began (R1, C1).
                if let value = result, let computation = computedValues[value], computation.id != read.id,
                    computation.computed!.start < read.end, computation.end > read.start
                {
                    if computation.instance == read.instance,
                        let change = overtakingChange(of: computation, before: read, key: key)
                    {
                        found.append(
                            report(
                                "\(read) took the value of \(computation), which \(change) overtook before it began", key: key,
                                writes: writes))
                    }
                    continue
                }
                if let write = explanation(of: result, read: read, writes: writes) {
                    explainedReads.append((read, write))
                } else {
                    found.append(report("no write explains \(read)", key: key, writes: writes))
                }
            }
            found += monotonicReadViolations(explainedReads, key: key, writes: writes)
        }
        return found
    }

    /// A change of `key` in `read`'s instance that ended before `read` began and began after
    /// `computation` did (so after its miss): the computed value predates it, and `read`,
    /// which began after it, must not answer with that value (R1). An invalidation of one of
    /// the value's tags counts (T1).
    func overtakingChange(of computation: Operation, before read: Operation, key: String) -> Operation? {
        guard let computed = computation.computed else { return nil }
        return operations.first { change in
            guard change.instance == read.instance, !change.failed, change.end < read.start, change.start > computed.start else {
                return false
            }
            switch change.kind {
            case .set, .delete: return change.target == key
            case .clear: return KeyRules.key(key, hasPrefix: change.target)
            case .invalidate: return computation.tags.contains(change.target)
            default: return false
            }
        }
    }

    /// Everything that set what `key` holds.
    func writes(of key: String) -> [Write] {
        var writes = [
            Write(
                operation: nil, value: nil, tags: [], instance: -1, begins: .min, orderedAfter: .min, certain: true, end: .min,
                invalidatedTag: nil)
        ]
        for operation in operations where !operation.failed {
            switch operation.kind {
            case .set where operation.target == key:
                writes.append(
                    Write(
                        operation: operation, value: operation.written, tags: operation.tags, instance: operation.instance,
                        begins: operation.start, orderedAfter: operation.end, certain: true, end: operation.end, invalidatedTag: nil))
            case .delete where operation.target == key:
                writes.append(certainNothing(operation))
            case .clear where KeyRules.key(key, hasPrefix: operation.target):
                writes.append(certainNothing(operation))
            case .getOrSet where operation.target == key && operation.computed != nil:
                guard case .some(.some(let value)) = operation.result else { continue }
                let computation = operation.computed!
                // A bulk key's miss is somewhere between the call's start and its computation's.
                writes.append(
                    Write(
                        operation: operation, value: value, tags: operation.tags, instance: operation.instance,
                        begins: operation.missedAfter ?? computation.start, orderedAfter: computation.start, certain: false,
                        end: operation.end, invalidatedTag: nil))
            case .invalidate:
                writes.append(
                    Write(
                        operation: operation, value: nil, tags: [], instance: operation.instance, begins: operation.start,
                        orderedAfter: operation.end, certain: false, end: operation.end, invalidatedTag: operation.target))
            default:
                break
            }
        }
        return writes
    }

    private func certainNothing(_ operation: Operation) -> Write {
        Write(
            operation: operation, value: nil, tags: [], instance: operation.instance, begins: operation.start,
            orderedAfter: operation.end, certain: true, end: operation.end, invalidatedTag: nil)
    }

    /// A write that explains `result` for `read`: it began before the read ended, and was
    /// not superseded before the read began.
    func explanation(of result: String?, read: Operation, writes: [Write]) -> Write? {
        writes.first { write in
            guard write.begins < read.end else { return false }
            if write.value != result {
                // Nothing is also what a plain read returns of a tagged value an invalidation
                // of one of its tags may have been ordered after (T1).
                guard result == nil, write.value != nil, mayBeInvalidated(write, before: read, in: writes) else { return false }
            }
            // An invalidation explains nothing only if the key could hold a value with its tag.
            if let tag = write.invalidatedTag, !writes.contains(where: { $0.tags.contains(tag) && $0.begins < write.end }) {
                return false
            }
            return !isSuperseded(write, before: read, in: writes)
        }
    }

    /// Whether an invalidation of one of `write`'s tags, begun before `read` ended, may be
    /// ordered at or after the write's stamp: it had not ended before the write began (in
    /// another instance, within the instants' resolution).
    func mayBeInvalidated(_ write: Write, before read: Operation, in writes: [Write]) -> Bool {
        guard let start = write.operation?.start else { return false }
        return writes.contains { invalidation in
            guard let tag = invalidation.invalidatedTag, write.tags.contains(tag), let operation = invalidation.operation,
                operation.start < read.end
            else { return false }
            let resolution = invalidation.instance == write.instance ? 0 : Self.instantResolution
            return operation.end &+ resolution >= start
        }
    }

    /// Tag instants are milliseconds of each instance's clock: an invalidation and a write of
    /// its tag in the same millisecond, in two instances, tie, and a tie counts as
    /// invalidated (T4). Within one instance the hybrid clock orders them exactly.
    static let instantResolution: Int64 = 1_000_000

    /// Whether a change that certainly happened after `write` was visible to `read` before it began.
    func isSuperseded(_ write: Write, before read: Operation, in writes: [Write]) -> Bool {
        writes.contains { later in
            // Another instance's change is seen within the bound of running time after it
            // (X1): a stall of the process in between does not count.
            let delivered =
                later.instance == read.instance
                ? later.end < read.start
                : later.end + deliveryBound + (deliveryBound > 0 ? stalls.overlap(from: later.end, to: read.start) : 0) < read.start
            var after = write.orderedAfter
            if write.invalidatedTag != nil, later.instance != write.instance { after = after &+ Self.instantResolution }
            guard delivered, later.operation?.start ?? .min > after else { return false }
            if later.certain { return true }
            // An invalidation of one of the value's tags that began after it was written.
            if let tag = later.invalidatedTag, write.value != nil, write.tags.contains(tag) { return true }
            return false
        }
    }

    /// R2: a read in an instance never returns a value whose write ended before the write
    /// of a value an earlier read there returned began.
    func monotonicReadViolations(_ reads: [(read: Operation, write: Write)], key: String, writes: [Write]) -> [String] {
        var found: [String] = []
        // Reads of a value (nothing read is explained by writes whose order says nothing here).
        let byInstance = Dictionary(
            grouping: reads.filter { $0.write.value != nil && $0.read.result == .some($0.write.value) }, by: { $0.read.instance })
        for (_, reads) in byInstance {
            for (index, earlier) in reads.enumerated() {
                for later in reads[(index + 1)...] where earlier.read.end < later.read.start {
                    if later.write.end < earlier.write.begins, later.write.certain {
                        found.append(report("\(later.read) went back in time after \(earlier.read)", key: key, writes: writes))
                    }
                }
            }
        }
        return found
    }

    func report(_ problem: String, key: String, writes: [Write]) -> String {
        let history = operations.filter {
            $0.target == key || $0.kind == .invalidate || ($0.kind == .clear && KeyRules.key(key, hasPrefix: $0.target))
        }
        return problem + "\n  history of \(key):\n" + history.map { "    \($0)" }.joined(separator: "\n")
    }
}
