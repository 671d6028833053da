import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A counter that many cores add to at once: one cell per stripe, each on a 128-byte
/// block of its own, the stripe chosen by the calling thread. One shared atomic counted
/// every L1 hit and moved its cache line between the cores on every hit; with stripes each
/// thread mostly writes to a line only it uses. Reading sums the cells.
package final class StripedCounter: @unchecked Sendable {  // cells are only touched atomically
    private static let stripes = 16
    private static let stride = 128
    private let base: UnsafeMutableRawPointer

    package init() {
        base = .allocate(byteCount: Self.stripes * Self.stride, alignment: Self.stride)
        for stripe in 0..<Self.stripes { cell(stripe).initialize(to: Atomic(0)) }
    }

    deinit {
        for stripe in 0..<Self.stripes { cell(stripe).deinitialize(count: 1) }
        base.deallocate()
    }

    @inline(__always)
    private func cell(_ stripe: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (base + stripe * Self.stride).assumingMemoryBound(to: Atomic<Int>.self)
    }

    /// Adds one, to the calling thread's stripe.
    @inline(__always)
    package func increment() { add(1) }

    /// Adds `count`, to the calling thread's stripe.
    @inline(__always)
    package func add(_ count: Int) {
        // Threads' control blocks are page-aligned and apart: bits above the page size differ.
        #if canImport(Darwin)
        let thread = UInt(bitPattern: pthread_self())
        #else
        let thread = UInt(pthread_self())
        #endif
        let stripe = Int(truncatingIfNeeded: (thread >> 12) ^ (thread >> 20)) & (Self.stripes - 1)
        cell(stripe).pointee.add(count, ordering: .relaxed)
    }

    /// The sum of every stripe.
    package var value: Int {
        (0..<Self.stripes).reduce(0) { $0 + cell($1).pointee.load(ordering: .relaxed) }
    }
}
