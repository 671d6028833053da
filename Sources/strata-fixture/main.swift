// A second OS process for the tests: it works on a store directory that the test
// process uses at the same time. Not a product; the tests find it beside themselves.
//
//   strata-fixture increment <directory> <key> <times>
//   strata-fixture write-forever <directory> <key> <bytes>   (until killed)
//   strata-fixture set <directory> <key> <integer>
//   strata-fixture delete <directory> <key> <unused>
//   strata-fixture raise-record <directory> <name> <value>
//   strata-fixture sqlite-increment <database> <key> <times>
//   strata-fixture sqlite-set <database> <key> <number>      (writes the number as the value)
//   strata-fixture sqlite-delete <database> <key> <unused>
//   strata-fixture redis-follower <url> <key> <unused>
//       a TieredStore with an invalidation bus: reads <key> into its L1, prints "ready",
//       then prints "dropped" when another process's change drops the copy
import Strata
import StrataRedis
import StrataSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let arguments = CommandLine.arguments
guard arguments.count == 5, let count = Int(arguments[4]) ?? (arguments[1] == "redis-follower" ? 0 : nil) else {
    print(
        "usage: strata-fixture increment|write-forever|set|delete|raise-record|sqlite-increment|sqlite-set|sqlite-delete <path> <key> <count>"
    )
    exit(2)
}
switch arguments[1] {
case "increment":
    let store = try FolderStore(directory: arguments[2])
    for _ in 0..<count { try await store.increment(arguments[3]) }
case "set":
    try await FolderStore(directory: arguments[2]).set(arguments[3], count)
case "delete":
    try await FolderStore(directory: arguments[2]).delete(arguments[3])
case "raise-record":
    try await FolderStore(directory: arguments[2]).raiseRecord(named: arguments[3], to: Int64(count))
case "sqlite-increment":
    let store = try SQLiteStore(path: arguments[2])
    for _ in 0..<count { try await store.increment(arguments[3]) }
case "sqlite-set":
    let store = try SQLiteStore(path: arguments[2])
    try await store.set(arguments[3], count)
    try await store.close()
case "sqlite-delete":
    let store = try SQLiteStore(path: arguments[2])
    try await store.delete(arguments[3])
    try await store.close()
case "redis-follower":
    let redis = try RedisStore(url: arguments[2])
    let bus = RedisInvalidationBus(redis: redis)
    let cache = TieredStore(l1: MemoryStore(), l2: redis, configuration: .init(invalidationPublisher: bus))
    let subscription = Task { try await bus.run(delivering: cache) }
    // Listening once a message from this process's own other connection gets through.
    let probe = RedisInvalidationBus(redis: try RedisStore(url: arguments[2]))
    _ = try await cache.get("probe", as: String.self)
    for _ in 0..<500 {
        try await cache.l1.set("probe", "x")
        await probe.publish(.key("probe"))
        try await Task.sleep(for: .milliseconds(10))
        if !(try await cache.l1.has("probe")) { break }
    }
    _ = try await cache.get(arguments[3], as: String.self)
    _ = write(1, "ready\n", 6)
    while try await cache.l1.has(arguments[3]) { try await Task.sleep(for: .microseconds(100)) }
    _ = write(1, "dropped\n", 8)
    subscription.cancel()
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
