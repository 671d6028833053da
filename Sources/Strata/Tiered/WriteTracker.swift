import Synchronization

/// Keeps a tiered store's L1 from holding a value that disagrees with L2 after this
/// process's own calls complete, without holding any lock across an L2 call.
///
/// Keys are spread over stripes; each stripe counts the writes in flight and numbers
/// the writes begun. A write may leave its value in L1 only if it overlapped no other
/// write of its stripe: none was in flight when it began, and none began before it
/// finished (the keys of one batch, all distinct, are not each other's overlap: see
/// ``beginWrites(_:)``). Otherwise two writes raced in L2 and no one knows which landed last, so the
/// L1 copy is dropped. (Being the last begun and the only one in flight at the finish is
/// not enough: an earlier write, in flight when this one began, may land in L2 after it
/// and finish before it; R4.)
/// A read may copy an L2 hit into L1 only if no write was in flight on the stripe when
/// it read, and none began since. Prefix operations count as writes on every stripe.
/// Every check and the L1 change it guards happen under one lock, so a check cannot go
/// stale before its L1 change. A collision of two keys on a stripe only costs a copy
/// dropped or not made.
final class WriteTracker: Sendable {
    private struct Stripe {
        var inFlight = 0
        var begun: UInt64 = 0
        /// Copies of L2 reads made into L1 (or refused because another read's copy came first).
        var fills: UInt64 = 0
    }

    private struct State {
        var stripes = [Stripe](repeating: Stripe(), count: WriteTracker.stripeCount)
        var prefixWritesInFlight = 0
        var prefixWritesBegun: UInt64 = 0
    }

    struct Ticket {
        /// The key's `hashValue` (see ``ReadSnapshot/keyHash``).
        let keyHash: Int
        let stripe: Int
        let begun: UInt64
        let prefixWritesBegun: UInt64
        /// No other write of the stripe, and no prefix write, was in flight when this began
        /// (for a batch's ticket: when the batch began).
        let beganQuiet: Bool
    }

    struct ReadSnapshot {
        /// The key's `hashValue`: the fill that ends the read places the key in L1 with it
        /// rather than hashing the key again.
        let keyHash: Int
        let stripe: Int
        let begun: UInt64
        let prefixWritesBegun: UInt64
        let wasQuiet: Bool
        var fills: UInt64 = 0
    }

    static let stripeCount = 1_024
    private let state = Lock(State())

    static func stripe(ofHash hash: Int) -> Int {
        Int(UInt(bitPattern: hash) % UInt(stripeCount))
    }

    func beginWrite(_ key: ByteKey) -> Ticket {
        let hash = key.hashValue
        let stripe = Self.stripe(ofHash: hash)
        return state.withLock { state in Self.begin(hash, stripe, quiet: Self.isQuiet(stripe, in: state), in: &state) }
    }

    /// Begins the writes of one batch call (distinct keys), under one lock: each key's ticket
    /// counts as quiet when no change of its stripe was in flight before the batch began, so
    /// two keys of the batch that share a stripe do not both lose their copies (the first to
    /// finish drops its copy, as two writes in flight on a stripe do; the last keeps its own).
    func beginWrites(_ keys: [ByteKey]) -> [Ticket] {
        let hashes = keys.map(\.hashValue)
        let stripes = hashes.map(Self.stripe(ofHash:))
        return state.withLock { state in
            let quietBefore = stripes.map { Self.isQuiet($0, in: state) }
            return hashes.indices.map { Self.begin(hashes[$0], stripes[$0], quiet: quietBefore[$0], in: &state) }
        }
    }

    /// Whether no write of `stripe`, and no prefix write, is in flight.
    private static func isQuiet(_ stripe: Int, in state: State) -> Bool {
        state.stripes[stripe].inFlight == 0 && state.prefixWritesInFlight == 0
    }

    /// Counts a write of the key hashed `hash` as begun and in flight on `stripe`; its ticket.
    private static func begin(_ hash: Int, _ stripe: Int, quiet: Bool, in state: inout State) -> Ticket {
        state.stripes[stripe].inFlight += 1
        state.stripes[stripe].begun &+= 1
        return Ticket(
            keyHash: hash, stripe: stripe, begun: state.stripes[stripe].begun, prefixWritesBegun: state.prefixWritesBegun,
            beganQuiet: quiet)
    }

    /// Ends a write: runs `keep` when the write's value may stay in L1, `drop` otherwise.
    func finishWrite(_ ticket: Ticket, keep: () throws -> Void, drop: () throws -> Void) rethrows {
        try finishWrite(ticket, since: nil, keep: keep, drop: drop)
    }

    /// Ends a write of a computed value: runs `keep` only if, besides the write being alone,
    /// nothing changed the key since `snapshot` (taken when the computation read the key
    /// under its lease), so a change that began after the miss is never hidden by the value.
    ///
    /// Returns the tracker's state right after this write, as a snapshot: a later write by
    /// the same computation (its lease kept) is then judged against it, not against its own
    /// earlier write, and so are the callers that waited for the computation's flight. A
    /// write that was not alone gives a snapshot that is not quiet.
    @discardableResult
    func finishWrite(
        _ ticket: Ticket, since snapshot: ReadSnapshot?, keep: () throws -> Void, drop: () throws -> Void
    ) rethrows -> ReadSnapshot {
        try state.withLock { state in
            let alone = Self.isAlone(ticket, since: snapshot, in: state)
            if alone { try keep() } else { try drop() }
            state.stripes[ticket.stripe].inFlight -= 1
            let stripe = state.stripes[ticket.stripe]
            // Not quiet when another change raced this write: what the key holds after it is
            // unknown, so nothing judged against this snapshot takes it for this write's value.
            return ReadSnapshot(
                keyHash: ticket.keyHash, stripe: ticket.stripe, begun: stripe.begun, prefixWritesBegun: state.prefixWritesBegun,
                wasQuiet: alone && stripe.inFlight == 0 && state.prefixWritesInFlight == 0)
        }
    }

    /// Runs `keep` if the write `ticket`, still in flight, is alone (as `finishWrite` would
    /// judge it now); the ticket stays in flight.
    func keepIfAlone(_ ticket: Ticket, since snapshot: ReadSnapshot?, _ keep: () throws -> Void) rethrows {
        try state.withLock { state in
            if Self.isAlone(ticket, since: snapshot, in: state) { try keep() }
        }
    }

    private static func isAlone(_ ticket: Ticket, since snapshot: ReadSnapshot?, in state: State) -> Bool {
        let stripe = state.stripes[ticket.stripe]
        guard ticket.beganQuiet, stripe.inFlight == 1, stripe.begun == ticket.begun,
            state.prefixWritesInFlight == 0, state.prefixWritesBegun == ticket.prefixWritesBegun
        else { return false }
        guard let snapshot else { return true }
        // The ticket's write is the only one begun on the stripe since the snapshot.
        return snapshot.wasQuiet && snapshot.begun &+ 1 == ticket.begun && snapshot.prefixWritesBegun == ticket.prefixWritesBegun
    }

    /// Whether nothing could have changed the key since `snapshot`: no write of its stripe in
    /// flight then or begun since, and no prefix write either. A flight's value is handed to
    /// the callers that waited for it only then (a collision only sends them to look again).
    func isUnchanged(since snapshot: ReadSnapshot) -> Bool {
        state.withLock { state in
            let stripe = state.stripes[snapshot.stripe]
            return snapshot.wasQuiet && stripe.inFlight == 0 && stripe.begun == snapshot.begun
                && state.prefixWritesInFlight == 0 && state.prefixWritesBegun == snapshot.prefixWritesBegun
        }
    }

    func snapshot(_ key: ByteKey) -> ReadSnapshot {
        let hash = key.hashValue
        let stripe = Self.stripe(ofHash: hash)
        return state.withLock { state in
            ReadSnapshot(
                keyHash: hash, stripe: stripe, begun: state.stripes[stripe].begun, prefixWritesBegun: state.prefixWritesBegun,
                wasQuiet: state.stripes[stripe].inFlight == 0 && state.prefixWritesInFlight == 0,
                fills: state.stripes[stripe].fills)
        }
    }

    /// Runs `fill` if nothing could have changed the key in L2 since `snapshot`; `true` if it
    /// ran. Otherwise runs `drop`: the read may have answered a newer value than a copy L1
    /// holds (made by an overlapping read, or before a write in flight), and L1 must never
    /// serve an older value than a read already returned (monotonic reads). Two overlapping
    /// reads of one key may answer out of order, so when another read's copy was made since
    /// `snapshot`, neither is kept.
    @discardableResult
    func fillIfUnchanged(since snapshot: ReadSnapshot, _ fill: () throws -> Void, drop: () throws -> Void) rethrows -> Bool {
        try state.withLock { state in
            let stripe = state.stripes[snapshot.stripe]
            state.stripes[snapshot.stripe].fills &+= 1
            guard snapshot.wasQuiet, stripe.inFlight == 0, stripe.begun == snapshot.begun,
                state.prefixWritesInFlight == 0, state.prefixWritesBegun == snapshot.prefixWritesBegun,
                stripe.fills == snapshot.fills
            else {
                try drop()
                return false
            }
            try fill()
            return true
        }
    }

    func beginPrefixWrite() {
        state.withLock { state in
            state.prefixWritesInFlight += 1
            state.prefixWritesBegun &+= 1
        }
    }

    /// Ends a prefix write, running `invalidate` (the L1 change) under the lock.
    func finishPrefixWrite(_ invalidate: () throws -> Void) rethrows {
        try state.withLock { state in
            defer { state.prefixWritesInFlight -= 1 }
            try invalidate()
        }
    }
}
