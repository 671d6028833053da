#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Values each behind a lock of its own, for shards that tasks on different cores use at
/// once.
///
/// Each mutex sits beside its value in one block of memory, and every block starts on a
/// 128-byte boundary of its own (two cache lines: the adjacent-line prefetcher pulls pairs),
/// so two cores working on two shards never write to one cache line. An array of `Lock`
/// objects does not give that: its mutexes and values come from the allocator side by
/// side, and taking an element retains it, one more write to a shared line per call. With
/// 8 such shards, two tasks measured no faster than one.
package final class LockArray<Value>: @unchecked Sendable {  // a value is only touched with its mutex held
    private struct Block {
        var mutex: pthread_mutex_t
        var value: Value
    }

    private let base: UnsafeMutableRawPointer
    private let stride: Int
    /// How many values there are.
    package let count: Int

    /// One lock for each of `values`.
    package init(_ values: [Value]) {
        count = values.count
        stride = (MemoryLayout<Block>.stride + 127) & ~127
        base = .allocate(byteCount: stride * max(1, count), alignment: 128)
        // Adaptive where there is one (glibc): a thread that finds the lock held spins for a
        // while before sleeping. The sections are short (a hash lookup and a list splice), so
        // a waiter usually gets the lock within the spin; going to sleep in the kernel and
        // being woken costs microseconds, which with 8 shards made two tasks no faster than one.
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        defer { pthread_mutexattr_destroy(&attributes) }
        #if canImport(Glibc)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
        #endif
        for (index, value) in values.enumerated() {
            let block = (base + index * stride).bindMemory(to: Block.self, capacity: 1)
            block.initialize(to: Block(mutex: pthread_mutex_t(), value: value))
            pthread_mutex_init(mutex(index), &attributes)
        }
    }

    deinit {
        for index in 0..<count {
            pthread_mutex_destroy(mutex(index))
            block(index).deinitialize(count: 1)
        }
        base.deallocate()
    }

    @inline(__always)
    private func block(_ index: Int) -> UnsafeMutablePointer<Block> {
        (base + index * stride).assumingMemoryBound(to: Block.self)
    }

    @inline(__always)
    private func mutex(_ index: Int) -> UnsafeMutablePointer<pthread_mutex_t> {
        (base + index * stride + MemoryLayout<Block>.offset(of: \.mutex)!).assumingMemoryBound(to: pthread_mutex_t.self)
    }

    /// Runs `body` with value `index`, holding its lock.
    @inline(__always)
    package func withLock<Result, Failure: Error>(
        _ index: Int, _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        pthread_mutex_lock(mutex(index))
        defer { pthread_mutex_unlock(mutex(index)) }
        return try body(&block(index).pointee.value)
    }
}
