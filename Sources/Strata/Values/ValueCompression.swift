/// Whether a store compresses the values it writes: off by default; on, every coded value
/// of at least ``threshold`` bytes is compressed (when that makes it smaller).
///
/// Compressed entries begin with a marker, so a store reads compressed and uncompressed
/// entries alike, whatever it is configured with. `String`, `Data` and `[UInt8]` values are
/// never compressed: they stay raw bytes that other clients of the backend read as they are.
///
/// ```swift
/// var configuration = RedisStore.Configuration(endpoint: endpoint)
/// configuration.compression = .zlib(above: 1024)
/// ```
public struct ValueCompression: Sendable, Hashable, CustomStringConvertible {
    /// The algorithms a compressed entry may name (the byte after its marker).
    enum Algorithm: UInt8, Sendable {
        case zlib = 1
    }

    let algorithm: Algorithm?
    /// The smallest coded value, in bytes, that is compressed.
    public let threshold: Int

    /// No compression: the default.
    ///
    /// ```swift
    /// configuration.compression = .none
    /// ```
    public static let none = ValueCompression(algorithm: nil, threshold: Int.max)

    /// zlib (deflate, level 6) for coded values of at least `bytes` bytes (1 KiB by default):
    /// JSON-like values shrink 2.8× at 1 KiB, 4.2× at 16 KiB, 4.9× at 256 KiB (the figures are
    /// in `Docs/Values.md`). zlib comes with the system (on Linux a prerequisite of the Swift
    /// toolchain, in macOS's SDK), so it adds no dependency.
    ///
    /// ```swift
    /// configuration.compression = .zlib(above: 4096)
    /// ```
    public static func zlib(above bytes: Int = 1024) -> ValueCompression {
        ValueCompression(algorithm: .zlib, threshold: max(bytes, 1))
    }

    /// Whether a coded value of `count` bytes is compressed.
    func applies(to count: Int) -> Bool {
        algorithm != nil && count >= threshold && count <= ValueMarker.maximumExpandedBytes
    }

    /// `none`, or the algorithm and threshold, for example `zlib(above: 1024)`.
    public var description: String {
        guard let algorithm else { return "none" }
        return "\(algorithm)(above: \(threshold))"
    }
}
