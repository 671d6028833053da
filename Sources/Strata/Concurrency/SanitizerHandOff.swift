#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells ThreadSanitizer that what one side built for a task it resumes (a store a thread
/// of the package's own made, the bytes it read, the replies it parsed, a leader's computed
/// value) happens before the task reads it.
///
/// Why it is needed: a task awaits a continuation that a thread or another task resumes.
/// When the task has suspended first, Swift's runtime tells TSan that the resume happens
/// before the task runs again. When the resume comes first (it was quick, or the task's
/// thread was descheduled between handing the work over and suspending), the task goes on
/// without suspending, and the runtime tells TSan nothing on that path: whatever the
/// resumer wrote then reads as a race. CI saw one (2026-12-06): a `RedisStore` made by
/// ``OwnThread/run(named:_:)``, its fields read by its invalidation bus.
///
/// The resumer calls ``handOff(through:)`` once everything it hands over is made, just
/// before it resumes; the task calls ``receive(through:)`` when its await ends, returned
/// or thrown (a `defer`), with the same object (anything both sides hold: the lane, the
/// queue's owner, a token of the call's own). These are TSan's own `__tsan_release` and
/// `__tsan_acquire`, found at run time as the runtime finds them: outside a TSan build the
/// look-up finds nothing and each call costs a check of an optional.
///
/// ```swift
/// defer { SanitizerHandOff.receive(through: self) }
/// return try await withCheckedThrowingContinuation { continuation in
///     queue.async {
///         let result = Result(catching: work)
///         SanitizerHandOff.handOff(through: self)
///         continuation.resume(with: result)
///     }
/// }
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

    /// In the task, once its await ended (returned or thrown): see ``handOff(through:)``.
    @inline(__always)
    package static func receive(through object: AnyObject) {
        guard let acquire else { return }
        acquire(UnsafeRawPointer(Unmanaged.passUnretained(object).toOpaque()))
    }
}
