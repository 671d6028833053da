/// Header fields in arrival order, looked up case-insensitively (RFC 9110 §5.1).
struct HeaderFields: Sendable, Equatable {
    struct Field: Sendable, Equatable {
        var name: String
        var value: String
        /// `name` lowercased, once, since every lookup compares it.
        let lowercasedName: String

        init(name: String, value: String) {
            self.name = name
            self.value = value
            lowercasedName = name.lowercased()
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
        let wanted = name.lowercased()
        var found: String?
        for field in fields where field.lowercasedName == wanted {
            found = found.map { $0 + ", " + field.value } ?? field.value
        }
        return found
    }

    mutating func set(_ name: String, _ value: String) {
        remove(name)
        fields.append(Field(name: name, value: value))
    }

    mutating func remove(_ name: String) {
        let wanted = name.lowercased()
        fields.removeAll { $0.lowercasedName == wanted }
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
        guard let value = self[name] else { return [] }
        return value.split(separator: ",").map { $0.trimmingWhitespace }.filter { !$0.isEmpty }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    var trimmingWhitespace: String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return String(slice)
    }
}
