/// Header fields in arrival order, looked up with ASCII letters in either case (RFC 9110 §5.1:
/// field names are ASCII tokens).
struct HeaderFields: Sendable, Equatable {
    struct Field: Sendable, Equatable {
        var name: String
        var value: String

        init(name: String, value: String) {
            self.name = name
            self.value = value
        }

        /// `name` lowercased. Lookups compare names without it (``HeaderFields/named(_:_:)``):
        /// a stored response's fields are decoded on every hit, and lowering each name
        /// there cost more than the rest of the decoding.
        var lowercasedName: String { name.lowercasedToken }
    }

    /// Whether two field names are the same, ASCII letters in either case (field names are
    /// tokens, RFC 9110 §5.1: ASCII only).
    @inline(__always)
    static func named(_ name: String, _ other: String) -> Bool {
        name.utf8.count == other.utf8.count
            && name.utf8.elementsEqual(other.utf8) { left, right in
                left == right || (left ^ right == 0x20 && (left | 0x20) >= UInt8(ascii: "a") && (left | 0x20) <= UInt8(ascii: "z"))
            }
    }

    private(set) var fields: [Field]

    init(_ fields: [Field] = []) {
        self.fields = fields
    }

    init(_ dictionary: [String: String]) {
        // Sorted so the same headers always encode to the same bytes.
        fields = dictionary.sorted { $0.key.lowercased() < $1.key.lowercased() }.map { Field(name: $0.key, value: $0.value) }
    }

    /// The field's value, repeated fields joined by `, ` (RFC 9110 §5.3).
    subscript(name: String) -> String? {
        var found: String?
        for field in fields where Self.named(field.name, name) {
            found = found.map { $0 + ", " + field.value } ?? field.value
        }
        return found
    }

    /// Makes room for `count` fields in all.
    mutating func reserveCapacity(_ count: Int) { fields.reserveCapacity(count) }

    mutating func set(_ name: String, _ value: String) {
        remove(name)
        fields.append(Field(name: name, value: value))
    }

    /// Adds a field after the others, without looking for one of the same name.
    mutating func append(_ name: String, _ value: String) {
        fields.append(Field(name: name, value: value))
    }

    mutating func remove(_ name: String) {
        guard fields.contains(where: { Self.named($0.name, name) }) else { return }  // no copy of the array when absent
        fields.removeAll { Self.named($0.name, name) }
    }

    /// One dictionary entry per name, for `HTTPURLResponse`.
    var dictionary: [String: String] {
        var result: [String: String] = [:]
        var spelling: [String: String] = [:]
        for field in fields {
            let lower = field.lowercasedName
            if let name = spelling[lower] {
                result[name] = result[name]! + ", " + field.value
            } else {
                spelling[lower] = field.name
                result[field.name] = field.value
            }
        }
        return result
    }

    /// The comma-separated members of a list-valued field, trimmed, empty members dropped.
    func list(_ name: String) -> [String] {
        Self.members(of: self[name])
    }

    /// The comma-separated members of a list-valued field's `value`, trimmed, empty members
    /// dropped.
    static func members(of value: String?) -> [String] {
        guard let value else { return [] }
        return value.split(separator: ",").map { $0.trimmingWhitespace }.filter { !$0.isEmpty }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    ///
    /// Over UTF-8, not `Character`s: header values are parsed on every hit, and breaking
    /// text into grapheme clusters cost more than the rest of the parsing.
    var trimmingWhitespace: String {
        let text = Substring(self)
        let bytes = text.utf8
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, bytes[start] == UInt8(ascii: " ") || bytes[start] == UInt8(ascii: "\t") { start = bytes.index(after: start) }
        while start < end {
            let last = bytes.index(before: end)
            guard bytes[last] == UInt8(ascii: " ") || bytes[last] == UInt8(ascii: "\t") else { break }
            end = last
        }
        return String(text[start..<end])
    }
}

extension String {
    /// The names of fields and directives lowered, ASCII letters only (they are ASCII tokens,
    /// and lookups compare them so: ``HeaderFields/named(_:_:)``): the string itself when it
    /// has no uppercase ASCII letter, with no copy.
    var lowercasedToken: String {
        guard utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else { return self }
        return String(decoding: utf8.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
