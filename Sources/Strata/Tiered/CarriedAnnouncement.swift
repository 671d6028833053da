/// An invalidation publisher's announcement of one key's change, handed to the write that
/// makes the change so that the store publishes it in the same step: one round trip where
/// a write and its announcement took two, and a process that dies once its write is sent
/// no longer leaves other instances' L1 copies stale.
///
/// A ``TieredStore`` asks its publisher for one
/// (``InvalidationPublisher/carriedAnnouncement(ofChangeTo:writtenTo:)``) before each write
/// of one key to L2: the publisher gives one only for a store whose writes can carry it
/// (a `RedisInvalidationBus` for its own `RedisStore`, on one server or behind Sentinel),
/// and the store
/// (an ``AnnouncementCarrier``, a ``ComputeLock`` that writes with its release) says whether
/// it published it. An announcement not carried, refused by the server, or of a write that
/// failed, is published after the write as before.
///
/// ```swift
/// let announcement = CarriedAnnouncement(channel: Array("invalidations".utf8), message: Array("user:1".utf8))
/// ```
public struct CarriedAnnouncement: Sendable, Hashable {
    /// The channel it is published on.
    public var channel: [UInt8]
    /// The message, in the publisher's own format.
    public var message: [UInt8]

    /// An announcement of `message` on `channel`.
    ///
    /// ```swift
    /// let announcement = CarriedAnnouncement(channel: Array("invalidations".utf8), message: Array("user:1".utf8))
    /// ```
    public init(channel: [UInt8], message: [UInt8]) {
        self.channel = channel
        self.message = message
    }
}
