import Strata

extension ConsistencyHistory {
    /// A bulk `get`, `set`, `delete` or `getOrSet` of two or three of the keys, recorded as one
    /// operation per key over the bulk call's time: each key's answer must be explained as a
    /// single call's would be.
    func randomBulkOperation(on store: any KeyValueStore, instance: Int, random: inout SplitMix64) async throws {
        var keys = Self.keys
        keys.shuffle(using: &random)
        keys = Array(keys.prefix(2 + Int(random.next() % 2)))
        let tag = Self.tags[Int(random.next() % UInt64(Self.tags.count))]
        let tagged = random.next() % 2 == 0
        let tags = tagged ? [tag] : []
        let options = EntryOptions(expires: "1h", tags: tagged ? [tag] : nil)
        let draw = random.next() % 100
        let start = now()
        func record(
            _ kind: Operation.Kind, _ key: String, written: String? = nil, tags: [String] = [], result: String?? = nil,
            computed: (Int64, Int64)? = nil, failed: Bool = false, end: Int64
        ) {
            let missedAfter = computed == nil ? nil : start
            let id = nextID.add(1, ordering: .relaxed).newValue
            let operation = Operation(
                id: id, instance: instance, kind: kind, target: key, written: written, tags: tags, start: start, end: end,
                result: result, computed: computed, failed: failed, missedAfter: missedAfter)
            recorded.withLock { $0.append(operation) }
        }
        switch draw {
        case 0..<35:
            let values = try await store.get(keys, as: String.self)
            let end = now()
            for key in keys { record(.get, key, result: .some(values[key]), end: end) }
        case 35..<60:
            let values = Dictionary(uniqueKeysWithValues: keys.map { ($0, uniqueValue(instance)) })
            if tagged {
                try await store.set(values, options: options)
            } else {
                try await store.set(values, expires: "1h")
            }
            let end = now()
            for key in keys { record(.set, key, written: values[key], tags: tags, end: end) }
        case 60..<70:
            try await store.delete(keys)
            let end = now()
            for key in keys { record(.delete, key, end: end) }
        default:
            let values = Dictionary(uniqueKeysWithValues: keys.map { ($0, uniqueValue(instance)) })
            let failing = random.next() % 8 == 0
            let omitted = random.next() % 6 == 0 ? keys.last : nil
            // A key may be computed in a call of its own (it waited, then still missed). A key's
            // miss (its lease) is between the call's start and the computation's.
            let ran = Lock<[String: (Int64, Int64)]>([:])
            let compute: @Sendable ([String]) async throws -> [String: String] = { missing in
                let began = self.now()
                if failing { throw HistoryComputeFailure() }
                let returned = values.filter { missing.contains($0.key) && $0.key != omitted }
                let ended = self.now()
                ran.withLock { for key in returned.keys { $0[key] = (began, ended) } }
                return returned
            }
            do {
                let returned =
                    tagged
                    ? try await store.getOrSet(keys, as: String.self, options: options, compute: compute)
                    : try await store.getOrSet(keys, as: String.self, expires: "1h", compute: compute)
                let end = now()
                let computed = ran.withLock { $0 }
                for key in keys {
                    guard let value = returned[key] else {
                        record(.getOrSet, key, tags: tags, failed: true, end: end)  // not returned by the computation
                        continue
                    }
                    record(
                        .getOrSet, key, tags: tags, result: .some(value), computed: value == values[key] ? computed[key] : nil, end: end)
                }
            } catch is HistoryComputeFailure {
                // Thrown by this call's computation, or shared by another caller's flight that
                // one key waited for: the keys this call computed were written all the same.
                let end = now()
                let computed = ran.withLock { $0 }
                for key in keys {
                    if let interval = computed[key] {
                        record(.getOrSet, key, tags: tags, result: .some(values[key]), computed: interval, end: end)
                    } else {
                        record(.getOrSet, key, tags: tags, failed: true, end: end)
                    }
                }
            }
        }
    }
}
