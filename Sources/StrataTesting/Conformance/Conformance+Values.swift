#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension KeyValueStoreConformance {
    static let valueChecks: [Check] = [
        Check("a value set is read back equal, as its own type") { context in
            try await withStore(context) { store in
                let sample = Sample(id: 7, name: "Ada", tags: ["a", "b"])
                try await store.set("sample", sample)
                try Expect.equal(try await store.get("sample", as: Sample.self), sample, "get after set")
                try Expect.that(try await store.has("sample"), "has after set")
            }
        },
        Check("a missing key reads as nil, has is false and delete returns false") { context in
            try await withStore(context) { store in
                try Expect.equal(try await store.get("missing", as: String.self), nil, "get of a missing key")
                try Expect.that(!(try await store.has("missing")), "has of a missing key")
                try Expect.that(!(try await store.delete("missing")), "delete of a missing key")
            }
        },
        Check("set replaces the value, and delete removes it once") { context in
            try await withStore(context) { store in
                try await store.set("k", "first")
                try await store.set("k", "second")
                try Expect.equal(try await store.get("k", as: String.self), "second", "get after a second set")
                try Expect.that(try await store.delete("k"), "delete of an existing key returns true")
                try Expect.that(!(try await store.delete("k")), "a second delete returns false")
                try Expect.equal(try await store.get("k", as: String.self), nil, "get after delete")
            }
        },
        Check("Data, [UInt8] and String are stored as their raw bytes (UTF-8 for String)") { context in
            try await withStore(context) { store in
                try await store.set("text", "héllo ✓")
                try Expect.equal(try await store.get("text", as: [UInt8].self), Array("héllo ✓".utf8), "String as bytes")
                let binary: [UInt8] = [0, 255, 10, 13, 0x80]
                try await store.set("bytes", binary)
                try Expect.equal(try await store.get("bytes", as: Data.self), Data(binary), "[UInt8] as Data")
                try await store.set("data", Data("raw".utf8))
                try Expect.equal(try await store.get("data", as: String.self), "raw", "Data as String")
                try Expect.equal(try await store.entry(forKey: "data")?.bytes, Array("raw".utf8), "raw entry bytes")
                try await store.set("empty", "")
                try Expect.equal(try await store.get("empty", as: String.self), "", "an empty String is a value")
            }
        },
        Check("other Codable values are stored as JSON") { context in
            try await withStore(context) { store in
                let sample = Sample(id: 1, name: "x", tags: [])
                try await store.set("json", sample)
                let bytes = try await store.get("json", as: [UInt8].self)
                try Expect.that(bytes != nil, "the JSON bytes are readable")
                let decoded = try JSONDecoder().decode(Sample.self, from: Data(bytes!))
                try Expect.equal(decoded, sample, "the bytes are the value's JSON")
                try await store.set("number", 42)
                try Expect.equal(try await store.get("number", as: String.self), "42", "an Int is the JSON 42")
            }
        },
        Check("reading a value as a type it does not decode to throws decodingFailed naming the key") { context in
            try await withStore(context) { store in
                try await store.set("shape", Sample(id: 1, name: "x", tags: []))
                let error = try await Expect.error(.decodingFailed, "get as another shape") {
                    try await store.get("shape", as: OtherShape.self)
                }
                try Expect.that("\(error)".contains("shape"), "the error names the key: \(error)")
                try await store.set("binary", [UInt8]([0xFF, 0xFE]))
                try await Expect.error(.decodingFailed, "bytes that are not UTF-8 read as String") {
                    try await store.get("binary", as: String.self)
                }
            }
        },
    ]
}
