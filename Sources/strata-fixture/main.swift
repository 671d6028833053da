#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
// A second OS process for the tests: it works on a store directory that the test
// process uses at the same time. Not a product; the tests find it beside themselves.
//
//   strata-fixture increment <directory> <key> <times>
//   strata-fixture write-forever <directory> <key> <bytes>   (until killed)
//   strata-fixture sqlite-increment <database> <key> <times>
import Strata
import StrataSQLite

let arguments = CommandLine.arguments
guard arguments.count == 5, let count = Int(arguments[4]) else {
    print("usage: strata-fixture increment|write-forever|sqlite-increment <path> <key> <count>")
    exit(2)
}
switch arguments[1] {
case "increment":
    let store = try FolderStore(directory: arguments[2])
    for _ in 0..<count { try await store.increment(arguments[3]) }
case "sqlite-increment":
    let store = try SQLiteStore(path: arguments[2])
    for _ in 0..<count { try await store.increment(arguments[3]) }
case "write-forever":
    let store = try FolderStore(directory: arguments[2])
    // Every value is `count` copies of one byte, so a reader can tell a torn value.
    var round: UInt8 = 0
    _ = write(1, "ready\n", 6)  // unbuffered: the test waits for it
    while true {
        round &+= 1
        try await store.set(arguments[3], [UInt8](repeating: round, count: count))
    }
default:
    print("unknown command \(arguments[1])")
    exit(2)
}
