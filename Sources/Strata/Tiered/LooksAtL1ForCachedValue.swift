/// A store whose ``KeyValueStore/cachedValue(forKey:as:options:)`` looks at its pipeline's
/// L1 whenever no eager refresh may be due: a ``TieredStore``, and a view that forwards the
/// call to one. A `getOrSet` with options that goes on to its compute path then looks at L1
/// again without counting the call a second time in W-TinyLFU (see ``Pipeline/L1Look``).
/// Any other store's `cachedValue` is its own or the default, which may or may not have
/// looked: its compute path's look counts the call only when it serves it.
package protocol LooksAtL1ForCachedValue {
    /// Whether `cachedValue` looked at L1 when it declined a call with no eager refresh due.
    var cachedValueLooksAtL1: Bool { get }
}

extension TieredStore: LooksAtL1ForCachedValue {
    package var cachedValueLooksAtL1: Bool { true }
}

extension PrefixedStore: LooksAtL1ForCachedValue {
    /// As the base's: the view forwards `cachedValue` to it.
    package var cachedValueLooksAtL1: Bool { (base as? any LooksAtL1ForCachedValue)?.cachedValueLooksAtL1 == true }
}
