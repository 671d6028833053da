import StrataTestSupport
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// The work a tiered store owns, and what `close()` (`cancelAndWait`) does with work taken
/// on while it waits.
@Suite("OwnedTasks")
struct OwnedTasksTests {
    @Test(
        "cancelAndWait returns though owned work keeps taking on more: after a bounded number of rounds nothing new starts",
        .timeLimit(.minutes(1)))
    func closingIsBounded() async {
        let owned = OwnedTasks()
        let chain = Chain(owned: owned)
        owned.spawn { await chain.link() }
        // A link is always running: each starts the next before it ends, so without the
        // bound every round would find one more to wait for.
        await owned.cancelAndWait()
        #expect(chain.refused, "the chain ended because the owner refused its next link")
        #expect(chain.startedCancelled >= 1, "the links taken on while it waited started cancelled")
        #expect(owned.count == 0, "every link started was waited for")
        #expect(!owned.spawn {}, "nothing starts once it returned")
    }

    @Test(
        "while it waits, work the owner must own starts cancelled and is waited for; optional work does not start",
        .timeLimit(.minutes(1)))
    func closingTakesOnOwnedWork() async throws {
        let owned = OwnedTasks()
        let holding = AsyncGate()
        let lateWork = Mutex<(started: Bool, cancelled: Bool, optionalStarted: Bool)>((false, false, false))
        owned.spawn {
            await holding.wait()  // not cancellable: holds the first round
            let optional = owned.spawn(optional: true) { lateWork.withLock { $0.optionalStarted = true } }
            owned.spawn {
                lateWork.withLock { $0 = (true, Task.isCancelled, $0.optionalStarted) }
            }
            #expect(!optional, "optional work is refused while the owner closes")
        }
        async let closed: Void = owned.cancelAndWait()
        #expect(try await eventually { owned.isClosing })
        holding.open()
        await closed
        let seen = lateWork.withLock { $0 }
        #expect(seen.started && seen.cancelled, "the work taken on ran, cancelled, before cancelAndWait returned")
        #expect(!seen.optionalStarted)
    }
}

/// Owned work that starts the next link of itself before it ends.
private final class Chain: Sendable {
    let owned: OwnedTasks
    private let state = Mutex<(refused: Bool, startedCancelled: Int)>((false, 0))

    init(owned: OwnedTasks) { self.owned = owned }

    var refused: Bool { state.withLock { $0.refused } }
    var startedCancelled: Int { state.withLock { $0.startedCancelled } }

    func link() async {
        if Task.isCancelled { state.withLock { $0.startedCancelled += 1 } }
        if !owned.spawn({ [self] in await link() }) { state.withLock { $0.refused = true } }
        await Task.yield()
    }
}
