import Foundation
import Strata
import StrataTestSupport
import StrataTesting
import Testing

@testable import StrataRedis

/// RESP requests written into arrays measured for them: the exact bytes Redis reads, at
/// the lengths where a count gains a digit, for arguments stored contiguously or not; and
/// the same requests answered by a real server.
@Suite("RedisProtocol: requests measured, then written once")
struct RedisProtocolTests {
    /// Text as Redis reads it, with `\r\n` shown.
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("commands are encoded as arrays of bulk strings, byte for byte; no command is no bytes")
    func exactBytes() {
        let encoded = RedisProtocol.encode([[Array("SET".utf8), Array("k".utf8), Array("a\r\nb\0".utf8)], [Array("PING".utf8)]])
        #expect(Self.text(encoded) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\r\nb\0\r\n*1\r\n$4\r\nPING\r\n")
        #expect(RedisProtocol.encode([]) == [])
        #expect(Self.text(RedisProtocol.encode([[[]]])) == "*1\r\n$0\r\n\r\n", "an empty argument is a bulk string of length 0")
    }

    @Test("lengths on both sides of where the count gains a digit (9 and 10 bytes, 99 and 100, … 9,999 and 10,000) are written whole")
    func digitBoundaries() {
        for length in [0, 9, 10, 99, 100, 999, 1_000, 9_999, 10_000] {
            let argument = [UInt8](repeating: UInt8(ascii: "x"), count: length)
            let encoded = RedisProtocol.encode([[argument]])
            let expected = "*1\r\n$\(length)\r\n" + String(repeating: "x", count: length) + "\r\n"
            #expect(Self.text(encoded) == expected, "length \(length)")
        }
        #expect(RedisProtocol.digits(0) == 1)
        #expect(RedisProtocol.digits(9) == 1)
        #expect(RedisProtocol.digits(10) == 2)
        #expect(RedisProtocol.digits(Int.max) == 19)
    }

    @Test("an argument not stored contiguously, and a key's name (namespace, then the key's UTF-8), are written whole")
    func writerArguments() {
        let key = "k é \u{1F600}"
        let namespace = Array("ns:".utf8)
        let scattered = (0..<12).lazy.map { UInt8(ascii: "a") + UInt8($0) }  // no contiguous storage
        let size =
            RedisProtocol.headerSize(3) + RedisProtocol.argumentSize(3) + RedisProtocol.argumentSize(12)
            + RedisProtocol.argumentSize(namespace.count + key.utf8.count)
        let encoded = RedisProtocol.write(size: size) { writer in
            writer.header(RedisProtocol.arrayMark, 3)
            writer.argument("GET".utf8)
            writer.argument(scattered)
            writer.argument(namespace, key)
        }
        #expect(Self.text(encoded) == "*3\r\n$3\r\nGET\r\n$12\r\nabcdefghijkl\r\n$\(3 + key.utf8.count)\r\nns:\(key)\r\n")
    }

    @Test("a bulk read's script (EVAL, then EVALSHA) and transaction are the commands they name, byte for byte")
    func bulkRequestBytes() async throws {
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: try await RedisTestServer.shared))
        configuration.keyNamespace = "ns:"
        let store = try RedisStore(configuration: configuration)
        let keys: ArraySlice = ["a", "b\r\n", "é"]
        let names = keys.map { Array("ns:\($0)".utf8) }
        let script = RedisStore.readScript
        func words(_ words: String...) -> [[UInt8]] { words.map { Array($0.utf8) } }
        #expect(store.readCommand(keys, whole: true) == RedisProtocol.encode([words("EVAL") + [script.source] + words("3") + names]))
        #expect(store.readCommand(keys, whole: false) == RedisProtocol.encode([words("EVALSHA") + [script.sha] + words("3") + names]))
        #expect(
            store.multiGetTransaction(keys)
                == RedisProtocol.encode([words("MULTI"), words("MGET") + names, words("EXISTS") + names, words("EXEC"), words("DISCARD")]))
        #expect(Self.text(store.multiGetTransaction(["k"])).hasPrefix("*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nMGET\r\n$4\r\nns:k\r\n"))
        try await store.close()
    }

    @Test(
        "a bulk read's transaction and script, as encoded, are run by a real server (one command each, none refused) for keys with CR/LF, NUL and 1 KiB"
    )
    func bulkRequestsOnAServer() async throws {
        var configuration = RedisStore.Configuration(endpoint: try RedisEndpoint(url: try await RedisTestServer.shared))
        configuration.keyNamespace = "resp:\(UUID().uuidString):"
        let store = try RedisStore(configuration: configuration)
        let keys = ["plain", "line\r\nbreak", "nul\0byte", String(repeating: "k", count: 1_000) + "é", "missing"]
        for key in keys.dropLast() { try await store.setEntry(StoredEntry(bytes: Array("v:\(key)".utf8)), forKey: key) }
        var before = store.statistics
        let values = try await store.entriesWithoutLifetimes(forKeys: keys)
        #expect(values.map { $0.map { String(decoding: $0.bytes, as: UTF8.self) } } == keys.dropLast().map { "v:\($0)" } + [nil])
        #expect(store.statistics.commands - before.commands == 5, "MULTI, MGET, EXISTS, EXEC, DISCARD: no GET per key after a refusal")
        for round in ["EVAL", "EVALSHA"] {
            before = store.statistics
            let entries = try await store.entries(forKeys: keys)
            #expect(Set(entries.keys) == Set(keys.dropLast()), "\(round)")
            for key in keys.dropLast() { #expect(entries[key]?.bytes == Array("v:\(key)".utf8), "\(round)") }
            #expect(store.statistics.commands - before.commands == 1, "\(round) alone: no GET and PTTL per key after a refusal")
        }
        let refused = (
            transactions: store.transactionsRefused.load(ordering: .relaxed), scripts: store.scriptedReadsRefused.load(ordering: .relaxed)
        )
        #expect(!refused.transactions && !refused.scripts)
        try await store.close()
    }
}
