import Foundation
import Strata
import StrataRedis

/// RedisStore over TLS beside the same store in plain TCP, on one private redis-server
/// that listens both ways (certificates made here with the `openssl` command): sequential
/// gets in interleaved rounds, and 64 tasks.
nonisolated func redisTLSBenchmarks(quick: Bool) async throws {
    heading("Redis over TLS: the same store, TLS beside plain TCP (loopback)")
    let directory = try temporaryDirectory("tls")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let script = """
        set -e
        cd '\(directory)'
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=bench CA'
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=localhost'
        printf 'subjectAltName=IP:127.0.0.1\\n' > server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext
        """
    let openssl = Process()
    openssl.executableURL = URL(fileURLWithPath: "/bin/sh")
    openssl.arguments = ["-c", script]
    openssl.standardOutput = FileHandle.nullDevice
    openssl.standardError = FileHandle.nullDevice
    try openssl.run()
    openssl.waitUntilExit()
    let tlsPort = Int.random(in: 40_001...50_000)
    let redis = try await LocalRedis(extraArguments: [
        "--tls-port", String(tlsPort), "--tls-cert-file", "\(directory)/server.pem", "--tls-key-file", "\(directory)/server.key",
        "--tls-ca-cert-file", "\(directory)/ca.pem", "--tls-auth-clients", "no",
    ])
    defer { redis.stop() }
    let plain = try RedisStore(url: redis.url)
    let tls = try RedisStore(url: "rediss://127.0.0.1:\(tlsPort)?ca=\(directory)/ca.pem")
    let keys = (0..<(quick ? 1_000 : 10_000)).map { "user:\($0)" }
    let value = String(repeating: "v", count: 64)
    for key in keys { try await plain.set(key, value) }

    let report = Report.shared
    let group = "redis-tls"
    // 4,000 sequential calls a round, as the redis group's.
    var rounds = InterleavedRounds(rounds: quick ? 2 : 7, operationsPerRound: min(keys.count, 4_000))
    for _ in 0..<rounds.rounds {
        try await rounds.measure("plain get", keyCount: keys.count) { _ = try await plain.get(keys[$0], as: String.self) }
        try await rounds.measure("TLS get", keyCount: keys.count) { _ = try await tls.get(keys[$0], as: String.self) }
        try await rounds.measure("plain set", keyCount: keys.count) { try await plain.set(keys[$0], value) }
        try await rounds.measure("TLS set", keyCount: keys.count) { try await tls.set(keys[$0], value) }
    }
    report.compare(
        group, "RedisStore get over TLS, sequential", rounds.median("TLS get"),
        to: "RedisStore get, plain TCP, sequential", rounds.median("plain get"))
    report.compare(
        group, "RedisStore set over TLS, sequential", rounds.median("TLS set"),
        to: "RedisStore set, plain TCP, sequential", rounds.median("plain set"))

    let total = quick ? 20_000 : 200_000
    var plainCosts: [Double] = [], tlsCosts: [Double] = []
    for _ in 0..<(quick ? 1 : 3) {
        plainCosts.append(try await concurrentGetCost(plain, keys: keys, total: total))
        tlsCosts.append(try await concurrentGetCost(tls, keys: keys, total: total))
    }
    report.compare(
        group, "RedisStore get over TLS, 64 tasks (wall-clock ns per get)", median(tlsCosts),
        to: "RedisStore get, plain TCP, 64 tasks (wall-clock ns per get)", median(plainCosts))
    try await plain.close()
    try await tls.close()
}
