/// A Swift value kept beside its bytes. A class, so that reading it back as its own type
/// is a class check rather than a cast out of an existential, and an entry holds one
/// reference (`any AnyObject & Sendable`: eight bytes, no witness table) instead of an
/// existential container.
@usableFromInline
final class Kept<Value: Sendable>: Sendable {
    @usableFromInline
    let value: Value
    init(_ value: Value) { self.value = value }

    /// `value` boxed, or `nil` for the raw types, which decode from their bytes at no cost
    /// (keeping them twice would double their memory).
    static func wrap(_ value: Value) -> (any AnyObject & Sendable)? {
        ValueCoding.isRaw(Value.self) ? nil : Kept(value)
    }

    /// The kept value if it is a `Value`.
    @inlinable
    static func read(_ kept: (any AnyObject & Sendable)?) -> Value? {
        guard let kept, type(of: kept) == Kept<Value>.self else { return nil }
        return unsafeDowncast(kept, to: Kept<Value>.self).value
    }
}
