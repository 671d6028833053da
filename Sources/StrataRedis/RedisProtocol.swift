/// RESP, the protocol's request form: each command an array of bulk strings, so any bytes
/// in a key or value (spaces, CR/LF, NUL) stay arguments and cannot change the command.
///
/// A request is measured first, then written once into an array of exactly its size
/// (``write(size:_:)``). Appended byte by byte, each byte checked the array's uniqueness and
/// capacity: encoding the 200 key names of a bulk read of 100 keys took about 4% of the
/// whole call, which waits for a round trip to the server (`perf`, 2026-12-06).
enum RedisProtocol {
    static let arrayMark = UInt8(ascii: "*")
    static let bulkMark = UInt8(ascii: "$")

    /// `commands`, each an array of arguments, encoded one after another.
    static func encode(_ commands: [[[UInt8]]]) -> [UInt8] {
        var size = 0
        for command in commands {
            size += headerSize(command.count)
            for argument in command { size += argumentSize(argument.count) }
        }
        return write(size: size) { writer in
            for command in commands {
                writer.header(arrayMark, command.count)
                for argument in command { writer.argument(argument) }
            }
        }
    }

    /// The bytes `body` writes, which must be exactly `size`: a request measured wrong
    /// stops the process (a precondition, checked in every build but `-Ounchecked`) before
    /// a byte is written outside the array, or one is left unwritten.
    static func write(size: Int, _ body: (inout Writer) -> Void) -> [UInt8] {
        // At least one byte of room, so that the buffer has an address even for nothing.
        [UInt8](unsafeUninitializedCapacity: max(size, 1)) { buffer, initialized in
            var writer = Writer(buffer.baseAddress!, size: size)
            body(&writer)
            precondition(writer.remaining == 0, "a RESP request was measured at \(size) bytes and written at \(size - writer.remaining)")
            initialized = size
        }
    }

    /// The bytes of `<mark><count>\r\n`.
    static func headerSize(_ count: Int) -> Int { 3 + digits(count) }

    /// The bytes of one argument of `length` bytes: `$<length>\r\n<bytes>\r\n`.
    static func argumentSize(_ length: Int) -> Int { headerSize(length) + length + 2 }

    /// How many decimal digits `value` (not negative) takes.
    static func digits(_ value: Int) -> Int {
        var digits = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        return digits
    }

    /// Writes RESP into memory measured for it, checking each write against what is left.
    struct Writer: ~Copyable {
        private var position: UnsafeMutablePointer<UInt8>
        private(set) var remaining: Int

        /// Only ``RedisProtocol/write(size:_:)`` makes one, over the array it measured.
        fileprivate init(_ start: UnsafeMutablePointer<UInt8>, size: Int) {
            position = start
            remaining = size
        }

        /// `<mark><count>\r\n`: `*` before a command's argument count, `$` before an
        /// argument's length.
        mutating func header(_ mark: UInt8, _ count: Int) {
            precondition(count >= 0)
            let digits = RedisProtocol.digits(count)
            reserve(3 + digits)
            position[0] = mark
            var rest = count
            for index in stride(from: digits, through: 1, by: -1) {
                position[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            }
            position[digits + 1] = 13
            position[digits + 2] = 10
            advance(3 + digits)
        }

        /// `$<length>\r\n<bytes>\r\n`: one argument.
        mutating func argument(_ bytes: some Collection<UInt8>) {
            header(RedisProtocol.bulkMark, bytes.count)
            copy(bytes)
            endLine()
        }

        /// One argument made of `prefix`'s bytes then `text`'s UTF-8: a key's name in its
        /// namespace, written from the key's own bytes.
        mutating func argument(_ prefix: [UInt8], _ text: String) {
            header(RedisProtocol.bulkMark, prefix.count + text.utf8.count)
            copy(prefix)
            copy(text.utf8)
            endLine()
        }

        /// `\r\n`.
        mutating func endLine() {
            reserve(2)
            position[0] = 13
            position[1] = 10
            advance(2)
        }

        private mutating func copy(_ bytes: some Collection<UInt8>) {
            let count = bytes.count
            reserve(count)
            let destination = position
            let copied: Bool? = bytes.withContiguousStorageIfAvailable { source in
                precondition(source.count == count, "a collection of \(count) bytes gave \(source.count)")
                if let base = source.baseAddress { destination.initialize(from: base, count: count) }
                return true
            }
            if copied == nil {
                // Each byte within the count measured, and as many as it says.
                var index = 0
                for byte in bytes.prefix(count) {
                    destination[index] = byte
                    index += 1
                }
                precondition(index == count, "a collection of \(count) bytes gave \(index)")
            }
            advance(count)
        }

        private func reserve(_ count: Int) {
            precondition(count <= remaining, "a RESP request was written past the size measured for it")
        }

        private mutating func advance(_ count: Int) {
            position += count
            remaining -= count
        }
    }
}
