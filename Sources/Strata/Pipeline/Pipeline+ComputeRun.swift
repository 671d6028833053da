import Synchronization

/// Step 5 of the compute path (see `Pipeline+Compute.swift`): the leader's computation
/// run under its lease, inline in the caller's task or, with timeouts, in a task of its
/// own that the caller may stop waiting for.
extension Pipeline {
    /// Steps 5 to 7.
    func run<Value: Codable & Sendable>(
        _ computation: Computation<Value>, _ leased: ComputationLease<Value>, options: EntryOptions
    ) async throws -> Shared<Value> {
        let key = leased.key
        let context = ComputeContext(
            staleValue: leased.kept?.value,
            staleWrittenAt: leased.kept?.envelope.map { Timestamp(millisecondsSince1970: $0.writtenAt) },
            options: options)
        let timed = options.hardTimeout != nil || (options.softTimeout != nil && leased.kept != nil)
        guard timed, computation.mayOutliveCall else {
            // Inline, in the caller's task.
            let value: Value
            let stored: (outcome: StoreOutcome, envelope: EntryEnvelope?)
            do {
                value = try await computation.body(context)
                tiered?.reportResilience(.compute, key, error: nil)
                stored = try await storeComputedValue(value, options: context.options, leased)
            } catch let notStored as ComputedValueNotStored {
                await releaseComputeLock(key, leased.lock)
                try? await source.releaseLease(leased.lease, forKey: key)
                throw notStored.error
            } catch {
                await releaseComputeLock(key, leased.lock)
                return try await fallBack(from: error, leased, options: options, computationGoesOn: false)
            }
            await releaseComputeLock(key, leased.lock)
            await PipelineGates.shared.pass(.afterWrite, key: key, scope: flightScope)
            return Shared(
                value: value, holdsForWaiters: stored.outcome != .refused, envelope: stored.envelope, since: leased.tracking.current,
                tagEpoch: leased.tagEpoch)
        }
        // In a task of its own, so that a caller who stops waiting does not stop the value from landing.
        // Who ends the lease if the computation fails is settled once: `running` becomes
        // `finished` (the computation ended first: the caller decides) or `abandoned` (the
        // caller left first: the computation ends its own lease if it fails).
        let ownership = Ownership()
        let work = Task { () async throws -> Shared<Value> in
            do {
                let value = try await computation.body(context)
                tiered?.reportResilience(.compute, key, error: nil)
                let stored = try await storeComputedValue(value, options: context.options, leased)
                await releaseComputeLock(key, leased.lock)
                await PipelineGates.shared.pass(.afterWrite, key: key, scope: flightScope)
                _ = ownership.settle(as: Ownership.finished)
                return Shared(
                    value: value, holdsForWaiters: stored.outcome != .refused, envelope: stored.envelope,
                    since: leased.tracking.current, tagEpoch: leased.tagEpoch)
            } catch {
                await releaseComputeLock(key, leased.lock)
                let finishedFirst = ownership.settle(as: Ownership.finished)
                // Nobody waits for it any more: end the lease it will not use.
                if !finishedFirst { try? await source.releaseLease(leased.lease, forKey: key) }
                throw error
            }
        }
        let outcome = await ComputationWait.wait(
            for: work, softTimeout: leased.kept != nil ? options.softTimeout : nil, hardTimeout: options.hardTimeout)
        /// The caller stops waiting: `true` when the computation goes on (it now owns its
        /// lease), `false` when it had already ended (the caller ends the lease, or uses it
        /// for the fallback).
        func abandon() -> Bool {
            // Nobody waits for it now: it keeps its lock for the lease at most, so a computation
            // that hangs does not hold the key's lock for as long as it runs.
            leased.lock?.stopRenewing()
            let goesOn = ownership.settle(as: Ownership.abandoned)
            ownUntilClose(work)
            return goesOn
        }
        /// Ends the lease of a computation that ended before its caller left.
        func releaseUnusedLease() {
            own { [source] in try? await source.releaseLease(leased.lease, forKey: key) }
        }
        switch outcome {
        case .finished(.success(let shared)):
            return shared
        case .finished(.failure(let notStored as ComputedValueNotStored)):
            try? await source.releaseLease(leased.lease, forKey: key)
            throw notStored.error
        case .finished(.failure(let error)):
            return try await fallBack(from: error, leased, options: options, computationGoesOn: false)
        case .softTimeout:
            if !abandon() { releaseUnusedLease() }
            tiered?.reportResilience(.softTimeout, key, error: nil)
            // A soft timeout is only armed with a kept value.
            return Shared(
                value: leased.kept!.value, holdsForWaiters: true, envelope: leased.kept!.envelope, since: leased.tracking.current,
                tagEpoch: leased.tagEpoch)
        case .hardTimeout:
            let goesOn = abandon()
            let error = StrataError(
                code: .timeout, message: "the computation did not finish within \(options.hardTimeout!)",
                key: callerKey(key), backend: backendName)
            tiered?.reportResilience(.computeTimeout, key, error: error)
            return try await fallBack(from: error, leased, options: options, computationGoesOn: goesOn)
        case .cancelled:
            if !abandon() { releaseUnusedLease() }
            throw CancellationError()
        }
    }

    /// A computed value its store refused (a value it will never hold, a closed store): the
    /// computation succeeded, so no kept value stands in for it (C4); the caller gets the
    /// store's error, as `set` would.
    private struct ComputedValueNotStored: Error {
        let error: any Error
    }

    /// ``storeComputed(_:options:_:)``, its failure wrapped as ``ComputedValueNotStored``.
    private func storeComputedValue<Value: Codable & Sendable>(
        _ value: Value, options: EntryOptions, _ leased: ComputationLease<Value>
    ) async throws -> (outcome: StoreOutcome, envelope: EntryEnvelope?) {
        do {
            return try await storeComputed(value, options: options, leased)
        } catch {
            throw ComputedValueNotStored(error: error)
        }
    }

    /// Who ends a timed computation's lease when it fails (see `run`): settled
    /// once, by whichever of the computation and its caller gets there first.
    private final class Ownership: Sendable {
        static let running: UInt8 = 0
        static let finished: UInt8 = 1
        static let abandoned: UInt8 = 2
        private let state = Atomic<UInt8>(Ownership.running)

        /// Settles it as `outcome`; `false` when it was settled already.
        func settle(as outcome: UInt8) -> Bool {
            state.compareExchange(expected: Ownership.running, desired: outcome, ordering: .acquiringAndReleasing).exchanged
        }
    }
}
