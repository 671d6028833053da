import CHiredis

/// One reply from Redis, copied out of hiredis's reply object.
enum RedisReply: Sendable, Equatable {
    case bulk([UInt8])
    case integer(Int64)
    case status(String)
    case error(String)
    case array([RedisReply])
    case null

    init(_ reply: UnsafeMutablePointer<redisReply>) {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            self = .bulk(value.str.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: Int(value.len))) } ?? [])
        case REDIS_REPLY_INTEGER:
            self = .integer(value.integer)
        case REDIS_REPLY_STATUS:
            self = .status(value.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_ERROR:
            self = .error(value.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_ARRAY:
            self = .array((0..<Int(value.elements)).map { RedisReply(value.element[$0]!) })
        default:
            self = .null
        }
    }

    /// The message of an error reply; `nil` for any other reply.
    var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }

    var typeName: String {
        switch self {
        case .bulk: "a string"
        case .integer: "an integer"
        case .status: "a status"
        case .error: "an error"
        case .array: "an array"
        case .null: "nil"
        }
    }
}
