/// How a store's typed API turns values into bytes: the coder and compression of what it
/// writes, and the coders it reads besides. Each store builds it from its configuration's
/// `valueCoder`, `compression` and `previousValueCoders` (``KeyValueStore/valueFormat``).
///
/// Reading never depends on the coder a store writes with: a JSON entry (no marker) is read
/// as JSON, an entry with a marker by the coder it names, if the store knows it: JSON and
/// ``BinaryValueCoder`` always, ``coder``, and each of ``previousCoders``. A marker naming
/// another coder is ``StrataError/Code/decodingFailed`` naming the key and the coder.
///
/// ```swift
/// var configuration = FolderStore.Configuration(directory: "./cache")
/// configuration.valueCoder = MessageCoder()
/// configuration.previousValueCoders = [OldMessageCoder()]   // entries it wrote stay readable
/// ```
public struct ValueFormat: Sendable {
    /// The coder of the values written.
    public var coder: any ValueCoder
    /// Whether values written are compressed.
    public var compression: ValueCompression
    /// Coders of entries written before, read but no longer written.
    public var previousCoders: [any ValueCoder]

    /// A format writing with `coder` and `compression`, reading `previousCoders` besides.
    ///
    /// ```swift
    /// let format = ValueFormat(coder: .binary, compression: .zlib(above: 1024))
    /// ```
    public init(coder: any ValueCoder = JSONValueCoder(), compression: ValueCompression = .none, previousCoders: [any ValueCoder] = []) {
        self.coder = coder
        self.compression = compression
        self.previousCoders = previousCoders
    }

    /// JSON, uncompressed: what every store used before formats could be chosen.
    ///
    /// ```swift
    /// var valueFormat: ValueFormat { .json }
    /// ```
    public static var json: ValueFormat { ValueFormat() }

    /// The coder whose identifier is `identifier`, among those this format reads.
    func reader(named identifier: String) -> (any ValueCoder)? {
        switch identifier {
        case "binary": return BinaryValueCoder()  // reserved: no coder of a user's replaces them
        case "json": return JSONValueCoder()
        default:
            if coder.identifier == identifier { return coder }
            return previousCoders.first { $0.identifier == identifier }
        }
    }
}
