import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The request's fields as they select a `Vary` variant.
extension HTTPCache {
    /// The request's fields as the origin will see them: the session's additional fields
    /// overlaid by the request's own (they decide which `Vary` variant a request selects).
    func requestHeaders(_ request: URLRequest) -> HeaderFields {
        var fields = additionalFields
        guard let own = request.allHTTPHeaderFields, !own.isEmpty else { return fields }
        for (name, value) in own { fields.set(name, value) }
        return fields
    }

    /// A field value with surrounding whitespace removed and inner runs collapsed, so
    /// `gzip,  br` and `gzip, br` select the same variant.
    static func normalized(_ value: String?) -> String? {
        value.map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ") }
    }
}
