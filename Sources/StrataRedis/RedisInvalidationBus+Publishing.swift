import Strata

/// Announcements waiting to be published, and whether the task that publishes them runs.
struct Outbox {
    var pending: [Invalidation] = []
    /// The one task publishing `pending`, while there is anything to publish; `nil` when idle.
    var drainer: Task<Void, Never>?
    var closed = false
}

extension RedisInvalidationBus {
    /// `PUBLISH`es sent in one pipelined batch, at most.
    static let publishBatch = 128

    /// Queues `invalidation` for the other instances and returns without waiting for
    /// Redis: a writer does not wait a round trip for its announcement. One task the bus
    /// owns publishes the queue in order, in pipelined batches of `PUBLISH` on one
    /// connection, so other instances receive this bus's announcements in the order they
    /// were queued. The task starts when something is queued and ends when the queue is
    /// empty; ``close()`` waits for it. Keys queued together go out in one message (up to 256
    /// a message, ``Configuration/coalescesKeys``). A failure is counted (``failedPublishes``, each announcement
    /// of a batch that failed, at each attempt) and kept (``lastPublishError``); a
    /// batch that failed because Redis could not be reached is sent again, in order, until
    /// it is published (see ``RedisInvalidationBus``'s publishing). After ``close()``, an
    /// announcement is not published and is counted too. In ``Mode/tracking`` mode a key's
    /// announcement is never published (Redis reports the change itself), nor counted. Use
    /// ``announce(_:)`` to wait for the server's answer instead.
    ///
    /// ```swift
    /// await bus.publish(.key("user:1"))   // returns at once; other instances drop "user:1"
    /// ```
    public func publish(_ invalidation: Invalidation) async {
        enqueue([invalidation])
    }

    /// Queues a batch of announcements (a bulk write's keys) together, under one lock, as
    /// `publish(_:)` queues one: nothing another task queues comes between them, so
    /// their keys go out in as few messages as ``Configuration/coalescesKeys`` allows
    /// (256 keys a message), in one pipelined batch. In ``Mode/tracking`` mode the keys are
    /// left out as `publish(_:)` leaves one out.
    ///
    /// ```swift
    /// await bus.publish([.key("user:1"), .key("user:2")])   // one message
    /// ```
    public func publish(_ invalidations: [Invalidation]) async {
        enqueue(invalidations)
    }

    /// The announcement of a change of `key` for a write to `store` to carry in the same
    /// round trip (see `CarriedAnnouncement`): the `PUBLISH` this bus would send, for
    /// writes to its own ``redis`` on one server (or behind Sentinel) in ``Mode/publish``
    /// mode, while the bus is open. `nil` otherwise, and the change is queued after the write
    /// as `publish(_:)` queues it: for another store, on a cluster (whose bus may use
    /// sharded channels, and whose writes go to their keys' nodes), in
    /// ``Mode/tracking`` mode (Redis reports the change itself), and after ``close()`` (the
    /// announcement is counted as not published). A carried announcement is not counted in
    /// ``messagesPublished``.
    ///
    /// A `TieredStore` asks for it before each write of one key: its plain writes
    /// (`set`), and its computations' writes (with `RedisComputeLock`, in the script that
    /// releases the lock) then send the write and its announcement together.
    ///
    /// ```swift
    /// let announcement = bus.carriedAnnouncement(ofChangeTo: "user:1", writtenTo: redis)   // non-nil for the bus's own store
    /// ```
    public func carriedAnnouncement(ofChangeTo key: String, writtenTo store: any KeyValueStore) -> CarriedAnnouncement? {
        guard (store as? RedisStore) === redis, redis.cluster == nil, configuration.mode == .publish,
            !outbox.withLock({ $0.closed })
        else { return nil }
        return CarriedAnnouncement(channel: Array(channel.utf8), message: Self.encode(.key(key), from: instanceID))
    }

    /// Appends `invalidations` (but the keys tracking reports) to the outbox, and starts the
    /// task that publishes it when none runs.
    private func enqueue(_ invalidations: [Invalidation]) {
        // With tracking, Redis tells every instance of a key's change itself (a tag's
        // invalidation, announced as a reserved key, is no key's change: it is published).
        let wanted =
            configuration.mode == .tracking
            ? invalidations.filter { invalidation in
                guard case .key(let key) = invalidation else { return true }
                return TagInvalidations.tag(fromKey: key) != nil
            } : invalidations
        guard !wanted.isEmpty else { return }
        let accepted = outbox.withLock { outbox -> Bool in
            guard !outbox.closed else { return false }
            outbox.pending.append(contentsOf: wanted)
            // Started under the lock, so the handle `close()` awaits is always the running one.
            if outbox.drainer == nil { outbox.drainer = Task { await self.drainOutbox() } }
            return true
        }
        if !accepted {
            publishFailed(
                StrataError(
                    code: .closed, message: "the invalidation bus is closed: nothing more is published",
                    backend: redis.backendName), messages: wanted.count)
        }
    }

    /// Publishes what is still queued, then refuses later announcements (each is counted
    /// in ``failedPublishes``); returns when the queue is empty and the task publishing it
    /// has ended. A running ``run(delivering:)`` is not affected: cancel its task.
    ///
    /// ```swift
    /// await bus.close()
    /// ```
    public func close() async {
        let drainer = outbox.withLock { outbox in
            outbox.closed = true
            return outbox.drainer
        }
        await drainer?.value
    }

    /// Announcements kept while `PUBLISH` fails, at most; past it, the backlog becomes one
    /// `.everything` (every other instance drops its L1), which says at least as much.
    static let maxBacklog = 10_000

    /// The publishing task: takes everything queued, publishes it in batches, and ends when
    /// the queue is found empty (marking itself gone under the same lock, so the next
    /// `publish` starts another).
    ///
    /// A batch that fails because Redis could not be reached is sent again, ahead of what
    /// was queued after it (the order holds), after a pause (50 ms, doubling to 1 s): a
    /// change this bus could not announce would otherwise stay in the other instances' L1
    /// with nothing to tell them (their subscriptions are healthy). So is one the server
    /// refused for a reason a retry or a failover cures (`READONLY`, `LOADING`, `MASTERDOWN`,
    /// any error ``RedisServerError`` maps to `backendUnavailable`). A refusal that stays
    /// (`NOPERM`, `NOAUTH`, `OOM`) is not sent again: it is counted and logged. After
    /// ``close()`` a failed batch is tried once more, then counted.
    private func drainOutbox() async {
        var pause = Duration.milliseconds(50)
        while true {
            let (queued, closed) = outbox.withLock { outbox in
                defer { outbox.pending = [] }
                if outbox.pending.isEmpty { outbox.drainer = nil }
                return (outbox.pending, outbox.closed)
            }
            if queued.isEmpty { return }
            guard let failedAt = await publishInOrder(queued) else {
                pause = .milliseconds(50)
                continue
            }
            let unpublished = Array(queued[failedAt...])
            let dropped = outbox.withLock { outbox -> Int in
                if closed { return unpublished.count }  // its last try
                outbox.pending = unpublished + outbox.pending
                guard outbox.pending.count > Self.maxBacklog else { return 0 }
                defer { outbox.pending = [.everything] }
                return outbox.pending.count
            }
            if dropped > 0 {
                redis.log(
                    .publishFailed(
                        StrataError(
                            code: .backendUnavailable,
                            message: closed
                                ? "the bus was closed while PUBLISH failed: \(dropped) announcements were not published"
                                : "\(dropped) announcements waited while PUBLISH failed: they are replaced by one that drops every L1",
                            backend: redis.backendName)))
            }
            if closed { continue }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(1))
        }
    }

    /// Publishes `queued` in batches, in order (keys coalesced into messages, see
    /// ``messages(_:)``); the index of the first announcement of a batch that failed and is
    /// to be sent again (Redis could not be reached), else `nil`.
    private func publishInOrder(_ queued: [Invalidation]) async -> Int? {
        if isSharded { return await publishSharded(queued) }
        let messages = messages(queued)
        for start in stride(from: 0, to: messages.count, by: Self.publishBatch) {
            let batch = messages[start..<min(start + Self.publishBatch, messages.count)]
            let commands = batch.map { redis.command("PUBLISH", Array(channel.utf8), $0.payload) }
            let first = batch.first!.first
            let announcements = (batch.endIndex < messages.count ? messages[batch.endIndex].first : queued.count) - first
            do {
                // One lane, one pipeline: the server runs them in this order.
                _ = try await redis.send(commands, routing: nil) { _ in nil }
                publishedMessages.add(batch.count, ordering: .relaxed)
            } catch let error as StrataError {
                publishFailed(error, messages: announcements)
                if error.code == .backendUnavailable || error.code == .timeout { return first }
            } catch {
                publishFailed(
                    StrataError(
                        code: .backendUnavailable, message: "PUBLISH failed", backend: redis.backendName,
                        underlying: error), messages: announcements)
                return first
            }
        }
        return nil
    }

    func publishFailed(_ error: StrataError, messages: Int) {
        publishFailures.increment(by: messages)
        lastFailures.withLock { $0.publish = error }
        redis.log(.publishFailed(error))
    }
}
