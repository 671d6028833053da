extension KeyValueStoreConformance {
    static let lifecycleChecks: [Check] = [
        Check("after close, every call throws closed") { context in
            let store = try await context.makeStore(nil)
            try await store.set("k", "v")
            try await store.close()
            try await Expect.error(.closed, "get") { try await store.get("k", as: String.self) }
            try await Expect.error(.closed, "set") { try await store.set("k", "v") }
            try await Expect.error(.closed, "has") { try await store.has("k") }
            try await Expect.error(.closed, "delete") { try await store.delete("k") }
            try await Expect.error(.closed, "keys") { try await store.keys() }
            try await Expect.error(.closed, "clear") { try await store.clear(prefix: "k") }
            try await Expect.error(.closed, "expire") { try await store.expire("k", "1min") }
            try await Expect.error(.closed, "increment") { try await store.increment("n") }
            try await Expect.error(.closed, "setIfAbsent") { try await store.setIfAbsent("k", "v") }
            try await Expect.error(.closed, "getOrSet") { try await store.getOrSet("k2") { "v" } }
            try await Expect.error(.closed, "sweepExpired") { try await store.sweepExpired() }
        }
    ]
}
