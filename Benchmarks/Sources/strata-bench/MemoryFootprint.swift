import Foundation
import Strata

/// Resident memory per entry with 1M small entries (8-byte keys, 8-byte values), measured
/// in a fresh child process for each structure so that memory freed by one can't be
/// reused by the next.
nonisolated func memoryFootprint(quick: Bool) async throws {
    heading("Memory: resident bytes per entry, 1,000,000 entries of an 8-byte key and an 8-byte value")
    let count = quick ? 100_000 : 1_000_000
    var perEntry: [String: Double] = [:]
    for structure in ["raw", "memory", "memory-typed"] {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["footprint-child", structure, String(count)]
        let output = Pipe()
        child.standardOutput = output
        try child.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        perEntry[structure] = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? .nan
    }
    let report = Report.shared
    let payload = 16.0
    report.record("memory", "raw dictionary, bytes per entry beyond key and value", perEntry["raw"]! - payload, unit: "B")
    report.compare(
        "memory", "MemoryStore, bytes per entry beyond key and value", perEntry["memory"]! - payload,
        to: "raw dictionary, bytes per entry beyond key and value", perEntry["raw"]! - payload, unit: "B")
    report.compare(
        "memory", "MemoryStore typed (Int kept as a Swift value), bytes per entry",
        perEntry["memory-typed"]! - payload,
        to: "raw dictionary, bytes per entry beyond key and value", perEntry["raw"]! - payload, unit: "B")
}

/// Resident set size in bytes, from /proc/self/statm.
func residentBytes() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return .nan }
    let pages = Double(text.split(separator: " ")[1]) ?? .nan
    return pages * Double(sysconf(Int32(_SC_PAGESIZE)))
}

/// The child: fills one structure and prints resident bytes per entry.
nonisolated func footprintChild(_ structure: String, count: Int) async throws {
    // Keys are made first and kept by both sides: the figure is what the structure adds.
    let keys = (0..<count).map { index -> String in
        let digits = String(index)
        return "k" + String(repeating: "0", count: max(0, 7 - digits.count)) + digits  // 8 bytes, a small string
    }
    let value: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
    let before = residentBytes()
    var keep: [AnyObject] = []
    switch structure {
    case "raw":
        let raw = RawDictionary()
        // A fresh array per entry, as values arriving from the network would be.
        for key in keys { raw.set(key, Array(value)) }
        keep.append(raw)
    case "memory":
        let memory = MemoryStore()
        for key in keys { try await memory.setEntry(StoredEntry(bytes: Array(value)), forKey: key) }
        keep.append(memory)
    default:
        let memory = MemoryStore()
        for (index, key) in keys.enumerated() { try await memory.set(key, index) }
        keep.append(memory)
    }
    let after = residentBytes()
    print((after - before) / Double(count))
    withExtendedLifetime(keep) {}
}
