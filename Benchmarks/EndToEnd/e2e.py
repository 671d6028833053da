#!/usr/bin/env python3
"""The end-to-end benchmark: a real application (Hummingbird, Vapor) on loopback, loaded by
wrk, serving one route whose row costs a 2 ms query on a miss, in four set-ups:

  (a) no cache: every request queries;
  (b) the framework's own in-memory store (Hummingbird's MemoryPersistDriver, Vapor's
      memory cache): get, and on a miss query and set;
  (c) a TieredStore (memory L1) over Redis, through getOrSet, with the invalidation bus and
      the compute lock: one application process;
  (d) the same with two application processes sharing Redis and the bus.

Measured for each framework (JSON lines on stdout, group "e2e", read by report.py):
  - full hits: ids from the 1,000 warmed ones;
  - 90% hits: nine requests in ten ask for a warmed id, the tenth for an id never asked
    for before, so each of them misses whatever the cache;
  - cold start: Redis empty, new processes, 32 connections over 100 ids (so that they ask
    for the same ids at once): queries per id, for (d) with the compute lock and without,
    and for (b);
  - restart: a new process of (c) (Redis still warm) and of (b) (nothing to warm it), its
    first seconds' throughput against the warm process's.

Each set-up's full-hit and 90%-hit figures are the medians of interleaved rounds (3 of 5
seconds each by default), the set-ups taking turns, so that a drift of the machine's
speed touches all of them alike; a restart is loaded for twice a round's length.

Usage: e2e.py SERVER_BINARY [--seconds 5] [--rounds 3] [--frameworks hummingbird,vapor] [--quick]
"""
import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
# Every process the run starts, so that none outlives it, whatever fails.
PROCESSES = []
# The first seconds of a restarted process, and the warm process's last, compared.
RESTART_SECONDS = 10


def spawn(arguments, **options):
    process = subprocess.Popen(arguments, **options)
    PROCESSES.append(process)
    return process


def stop_all():
    for process in PROCESSES:
        if process.poll() is None:
            process.kill()
            process.wait()
WARM_IDS = 1000
# The cold start's ids: few, so that the 32 connections ask for the same ones at once, as
# when every instance of a service restarts into the same popular keys.
COLD_IDS = 100
CONNECTIONS = 32


def free_port():
    # Below the kernel's range for the local end of outgoing connections (32768-60999),
    # so no connection of the run takes a port a server is about to bind.
    while True:
        port = random.randint(10_000, 20_000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


def wait_for(url, process, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.read()
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


class Redis:
    def __init__(self):
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="strata-e2e-redis-")
        self.process = spawn(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.directory], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        # Ours, not another server that held the port (this one would have exited): its
        # folder is the one given.
        if self.process.poll() is not None or self.command("CONFIG", "GET", "dir").splitlines()[-1] != self.directory:
            raise RuntimeError(f"port {self.port} is another Redis's")

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def command(self, *words):
        return subprocess.run(["redis-cli", "-p", str(self.port), *words], capture_output=True, text=True).stdout.strip()

    def ping(self):
        try:
            return self.command("PING") == "PONG"
        except OSError:
            return False

    def flush(self):
        if self.command("FLUSHALL") != "OK":
            raise RuntimeError("FLUSHALL failed")

    def stop(self):
        self.process.terminate()
        self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


class Server:
    """One application process."""

    def __init__(self, binary, framework, cache, redis, lock=True):
        self.port = free_port()
        arguments = [binary, "--framework", framework, "--cache", cache, "--port", str(self.port),
                     "--redis", redis.url, "--lock", "on" if lock else "off"]
        self.process = spawn(arguments, stdout=subprocess.DEVNULL)
        wait_for(self.url("/stats"), self.process)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def queries(self):
        return json.loads(wait_for(self.url("/stats"), self.process))["queries"]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.returncode not in (0, -15):
            raise RuntimeError(f"the server exited with status {self.process.returncode}")


def wrk_start(server, seconds, connections, threads, hit, base, ids):
    return spawn(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s",
         os.path.join(HERE, "request.lua"), server.url("/"), "--", str(ids), str(hit), str(base)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wrk_result(process):
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed: {err}")
    line = next((line for line in out.splitlines() if line.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out}")
    return json.loads(line)


# Each load's ids never asked for before start at a base of its own, the second process's
# half-way to the next base (request.lua adds 10^8 per wrk thread and counts from there).
BASES = iter(range(10**12, 10**16, 10**12))


def load(servers, seconds, hit, ids=WARM_IDS):
    """wrk against the servers at once (32 connections shared among them); the totals."""
    base = next(BASES)
    before = sum(server.queries() for server in servers)
    share = CONNECTIONS // len(servers)
    threads = 2 if len(servers) == 1 else 1
    runs = [wrk_start(server, seconds, share, threads, hit, base + index * 5 * 10**11, ids)
            for index, server in enumerate(servers)]
    results = [wrk_result(run) for run in runs]
    queries = sum(server.queries() for server in servers) - before
    requests = sum(result["requests"] for result in results)
    duration = max(result["duration_us"] for result in results) / 1e6
    return {
        "requests": requests,
        "rps": requests / duration,
        # With two processes, each has its own wrk: the slower's percentile is the one shown.
        "p50_ms": max(result["p50_us"] for result in results) / 1000,
        "p99_ms": max(result["p99_us"] for result in results) / 1000,
        "errors": sum(result["socket_errors"] + result["non2xx"] for result in results),
        "queries": queries,
        "hits": max(0.0, 1 - queries / requests) if requests else 0.0,
        "seconds": seconds,
    }


def resolved_versions():
    """The frameworks' versions the application was built with (its Package.resolved)."""
    try:
        with open(os.path.join(HERE, "Package.resolved")) as handle:
            pins = json.load(handle)["pins"]
    except (OSError, KeyError, ValueError):
        return {}
    names = {"hummingbird": "Hummingbird", "vapor": "Vapor"}
    return {names[pin["identity"]]: pin["state"].get("version") for pin in pins if pin["identity"] in names}


VERSIONS = resolved_versions()


def figure(framework, scenario, setup, result, **extra):
    record = {"group": "e2e", "name": f"{framework}, {scenario}, {setup}", "framework": framework,
              "scenario": scenario, "setup": setup, "unit": "req/s", "value": result["rps"],
              "p50": result["p50_ms"], "p99": result["p99_ms"], "requests": result["requests"],
              "errors": result["errors"], "queries": result["queries"], "hits": result["hits"],
              "seconds": result["seconds"]}
    for name in ("range", "rounds"):
        if name in result:
            record[name] = result[name]
    if VERSIONS:
        record["versions"] = VERSIONS
    record.update(extra)
    print(json.dumps(record), flush=True)


def median_of(results):
    """The rounds of one set-up as one result: the median throughput and percentiles (each
    on its own), the sums of requests, errors and queries, and the throughput's range."""
    rps = sorted(result["rps"] for result in results)
    return {
        "rps": statistics.median(rps),
        "p50_ms": statistics.median(result["p50_ms"] for result in results),
        "p99_ms": statistics.median(result["p99_ms"] for result in results),
        "requests": sum(result["requests"] for result in results),
        "errors": sum(result["errors"] for result in results),
        "queries": sum(result["queries"] for result in results),
        "hits": max(0.0, 1 - sum(result["queries"] for result in results)
                    / max(1, sum(result["requests"] for result in results))),
        "seconds": results[0]["seconds"],
        "range": [rps[0], rps[-1]],
        "rounds": len(results),
    }


def measure(binary, framework, seconds, warm_seconds, cold_seconds, rounds, restart_seconds):
    # Each set-up with a Redis of its own, so that one's writes and announcements cost the
    # others nothing. All set-ups run at once, idle but for the one loaded: the rounds
    # interleave them, so a drift of the machine's speed touches every set-up alike.
    redises = {"(c) TieredStore over Redis": Redis(), "(d) two processes": Redis(), "cold": Redis()}
    setups = {}
    try:
        setups["(a) no cache"] = [Server(binary, framework, "none", redises["cold"])]
        setups["(b) framework's store"] = [Server(binary, framework, "framework", redises["cold"])]
        setups["(c) TieredStore over Redis"] = [Server(binary, framework, "strata", redises["(c) TieredStore over Redis"])]
        setups["(d) two processes"] = [Server(binary, framework, "strata", redises["(d) two processes"])
                                       for _ in range(2)]
        for servers in setups.values():
            load(servers, warm_seconds, 1.0)
        results = {}
        for _ in range(rounds):
            for scenario, hit in [("full hits", 1.0), ("90% hits", 0.9)]:
                for setup, servers in setups.items():
                    results.setdefault((scenario, setup), []).append(load(servers, seconds, hit))
        for (scenario, setup), rounds_ in results.items():
            figure(framework, scenario, setup, median_of(rounds_))

        # A new process in place of the warm one, loaded at once: L2 (Redis) warms (c);
        # nothing warms (b). Against the warm process's last seconds, measured just before.
        for setup in ["(b) framework's store", "(c) TieredStore over Redis"]:
            warm = load(setups[setup], restart_seconds, 1.0)
            cache = "framework" if setup.startswith("(b)") else "strata"
            redis = redises["cold"] if setup.startswith("(b)") else redises[setup]
            setups[setup][0].stop()
            setups[setup] = [Server(binary, framework, cache, redis)]
            figure(framework, "restart", setup, load(setups[setup], restart_seconds, 1.0), warm=warm["rps"])
    finally:
        for servers in setups.values():
            for server in servers:
                server.stop()

    # Cold start: Redis empty, new processes, 32 connections over 100 ids at once. How many
    # queries per id: (d) with the compute lock, without it, and (b) (no single flight).
    redis = redises["cold"]
    try:
        for setup, cache, count, lock in [("(d) two processes", "strata", 2, True),
                                          ("(d) two processes, no compute lock", "strata", 2, False),
                                          ("(b) framework's store", "framework", 1, True)]:
            redis.flush()
            servers = [Server(binary, framework, cache, redis, lock=lock) for _ in range(count)]
            try:
                figure(framework, "cold start", setup, load(servers, cold_seconds, 1.0, COLD_IDS), ids=COLD_IDS)
            finally:
                for server in servers:
                    server.stop()
    finally:
        for redis_ in redises.values():
            redis_.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--seconds", type=int, default=4, help="each load of each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frameworks", default="hummingbird,vapor")
    parser.add_argument("--quick", action="store_true", help="a second per load: checks it works, no figures")
    options = parser.parse_args()
    seconds, warm_seconds, cold_seconds, rounds, restart_seconds = (1, 1, 1, 1, 1) if options.quick else (
        options.seconds, 3, 3, options.rounds, RESTART_SECONDS)
    try:
        for framework in options.frameworks.split(","):
            measure(os.path.abspath(options.binary), framework, seconds, warm_seconds, cold_seconds, rounds,
                    restart_seconds)
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
