import Strata

/// A bulk call's commands on a cluster: the keys' slots grouped by the node that owns
/// them, one pipeline per node, the nodes in parallel.
///
/// A slot's commands stay together and in order within its node's pipeline, so each slot
/// is served as a single-key call's batch is: when the node answers some of them with a
/// redirection (`MOVED`, `ASK`, `TRYAGAIN`), that slot goes on from the replies it got,
/// as `send(_:slot:key:store:)` goes on (`RedisCluster+Routing.swift`), and only its
/// redirected commands are sent again. A node that could not be written to (no
/// connection could be made) wrote nothing, so each of its slots is sent on its own, with
/// the waiting and map refreshes of a single-key call.
extension RedisCluster {
    /// The commands of one slot's keys in a bulk call, and the key an error names.
    struct SlotBatch: Sendable {
        let slot: Int
        let commands: [[[UInt8]]]
        let key: String
    }

    /// Sends `batches`, each slot's to the node that owns it (one pipeline per node, the
    /// nodes in parallel); each batch's replies, error replies included, or the failure
    /// that lost them (the batch may have run: a written batch is never sent again).
    func send(_ batches: [SlotBatch], store: RedisStore) async -> [Result<[RedisReply], any Error>] {
        var byNode: [ObjectIdentifier: (node: Node, batches: [Int])] = [:]
        var ownerless: [Int] = []
        for (index, batch) in batches.enumerated() {
            guard let node = owner(of: batch.slot) else {
                ownerless.append(index)
                continue
            }
            byNode[ObjectIdentifier(node), default: (node, [])].batches.append(index)
        }
        var results = [Result<[RedisReply], any Error>?](repeating: nil, count: batches.count)
        await withTaskGroup(of: [(Int, Result<[RedisReply], any Error>)].self) { group in
            for (node, indexes) in byNode.values {
                group.addTask {
                    let outcomes = await self.send(indexes.map { batches[$0] }, to: node, store: store)
                    return Array(zip(indexes, outcomes))
                }
            }
            for index in ownerless {
                group.addTask { [(index, await self.sendAlone(batches[index], store: store))] }
            }
            for await answered in group {
                for (index, result) in answered { results[index] = result }
            }
        }
        return results.map { $0! }
    }

    /// One node's pipeline of `batches`; each batch's outcome.
    private func send(_ batches: [SlotBatch], to node: Node, store: RedisStore) async -> [Result<[RedisReply], any Error>] {
        let replies: [RedisReply]
        do {
            replies = try await node.lane().send(batches.flatMap(\.commands))
        } catch let error as CancellationError {
            return batches.map { _ in .failure(error) }  // cancelled before it was written: nothing ran
        } catch is RedisNotSent {
            // Nothing was written: each slot goes its own way, waiting for the cluster as a
            // single-key call does.
            return await withTaskGroup(of: (Int, Result<[RedisReply], any Error>).self) { group in
                for (index, batch) in batches.enumerated() { group.addTask { (index, await self.sendAlone(batch, store: store)) } }
                var results = [Result<[RedisReply], any Error>?](repeating: nil, count: batches.count)
                for await (index, result) in group { results[index] = result }
                return results.map { $0! }
            }
        } catch {
            // Written and lost (it may have run), or refused before it was written (the
            // node's queue full, the store closed): every batch of the node fails with it.
            if !(error is RedisUnsent || error is RedisLaneClosed) { Task { try? await refresh(store: store) } }
            return batches.map { .failure(store.mapped(error, key: $0.key, node: node.name)) }
        }
        var results: [Result<[RedisReply], any Error>] = []
        results.reserveCapacity(batches.count)
        var start = 0
        for batch in batches {
            let answered = Array(replies[start..<start + batch.commands.count])
            start += batch.commands.count
            guard answered.contains(where: { Redirection($0) != nil }) else {
                results.append(.success(answered))
                continue
            }
            results.append(
                await .of { try await self.send(batch.commands, slot: batch.slot, key: batch.key, store: store, answered: answered) })
        }
        return results
    }

    /// `batch` sent as a single-key call's commands are.
    private func sendAlone(_ batch: SlotBatch, store: RedisStore) async -> Result<[RedisReply], any Error> {
        await .of { try await self.send(batch.commands, slot: batch.slot, key: batch.key, store: store) }
    }
}

extension Result where Failure == any Error {
    /// The outcome of `body`, its error included.
    static func of(_ body: () async throws -> Success) async -> Self {
        do {
            return .success(try await body())
        } catch {
            return .failure(error)
        }
    }
}
