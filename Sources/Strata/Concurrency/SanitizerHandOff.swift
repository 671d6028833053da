#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells ThreadSanitizer that what a thread of the package's own built for a task (a store
/// it made, the bytes it read, the replies it parsed) happens before the task reads it.
///
/// Why it is needed: a task awaits a continuation that such a thread resumes. When the
/// task has suspended first, Swift's runtime tells TSan that the resume happens before the
/// task runs again. When the thread resumes first (it was quick, or the task's thread was
/// descheduled between handing the work over and suspending), the task goes on without
/// suspending, and the runtime tells TSan nothing on that path: whatever the thread wrote
/// then reads as a race. CI saw one (2026-12-06): a `RedisStore` made by
/// ``OwnThread/run(named:_:)``, its fields read by its invalidation bus.
///
/// The thread calls ``handOff(through:)`` just before it resumes; the task calls
/// ``receive(through:)`` as soon as its await returns, with the same object (anything both
/// sides hold: the lane, the queue's owner). These are TSan's own `__tsan_release` and
/// `__tsan_acquire`, found at run time as the runtime finds them: outside a TSan build the
/// look-up finds nothing and each call is one check of an optional.
///
/// ```swift
/// let value = try await withCheckedThrowingContinuation { continuation in
///     queue.async {
///         let result = Result(catching: work)
///         SanitizerHandOff.handOff(through: self)
///         continuation.resume(with: result)
///     }
/// }
/// SanitizerHandOff.receive(through: self)
/// ```
package enum SanitizerHandOff {
    private typealias Annotation = @convention(c) (UnsafeRawPointer?) -> Void

    private static let release = annotation(named: "__tsan_release")
    private static let acquire = annotation(named: "__tsan_acquire")

    private static func annotation(named name: String) -> Annotation? {
        #if canImport(Darwin)
        let everywhere = UnsafeMutableRawPointer(bitPattern: -2)  // RTLD_DEFAULT
        #else
        let everywhere = UnsafeMutableRawPointer(bitPattern: 0)  // RTLD_DEFAULT
        #endif
        guard let symbol = dlsym(everywhere, name) else { return nil }
        return unsafeBitCast(symbol, to: Annotation.self)
    }

    /// An object to hand off through when the two sides share none.
    package final class Token: Sendable {
        package init() {}
    }

    /// On the thread, before it resumes the task: everything it did so far happens before
    /// what the task does after ``receive(through:)`` with the same object.
    @inline(__always)
    package static func handOff(through object: AnyObject) {
        guard let release else { return }
        release(UnsafeRawPointer(Unmanaged.passUnretained(object).toOpaque()))
    }

    /// In the task, once its await returned: see ``handOff(through:)``.
    @inline(__always)
    package static func receive(through object: AnyObject) {
        guard let acquire else { return }
        acquire(UnsafeRawPointer(Unmanaged.passUnretained(object).toOpaque()))
    }
}
