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
  - cold start of (d): Redis empty, both processes new, 32 connections over the 1,000 ids:
    queries per distinct id, with the compute lock and without, beside (b) started cold;
  - restart: a new process of (c) (Redis still warm) and of (b) (nothing to warm it), its
    first seconds' throughput against the warm process's.

Usage: e2e.py SERVER_BINARY [--seconds 10] [--frameworks hummingbird,vapor] [--quick]
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
WARM_IDS = 1000
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
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.directory], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

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


class Server:
    """One application process."""

    def __init__(self, binary, framework, cache, redis, lock=True):
        self.port = free_port()
        arguments = [binary, "--framework", framework, "--cache", cache, "--port", str(self.port),
                     "--redis", redis.url, "--lock", "on" if lock else "off"]
        self.process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL)
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


def wrk_start(server, seconds, connections, threads, hit, base):
    return subprocess.Popen(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s",
         os.path.join(HERE, "request.lua"), server.url("/"), "--", str(WARM_IDS), str(hit), str(base)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wrk_result(process):
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed: {err}")
    line = next((line for line in out.splitlines() if line.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out}")
    return json.loads(line)


BASES = iter(range(1_000_000_000, 10**15, 1_000_000_000))


def load(servers, seconds, hit):
    """wrk against the servers at once (32 connections shared among them); the totals."""
    base = next(BASES)
    before = sum(server.queries() for server in servers)
    share = CONNECTIONS // len(servers)
    threads = 2 if len(servers) == 1 else 1
    runs = [wrk_start(server, seconds, share, threads, hit, base + index * 100_000_000_000)
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
        "hits": 1 - queries / requests if requests else 0,
        "seconds": seconds,
    }


def figure(framework, scenario, setup, result, **extra):
    record = {"group": "e2e", "name": f"{framework}, {scenario}, {setup}", "framework": framework,
              "scenario": scenario, "setup": setup, "unit": "req/s", "value": result["rps"],
              "p50": result["p50_ms"], "p99": result["p99_ms"], "requests": result["requests"],
              "errors": result["errors"], "queries": result["queries"], "hits": result["hits"],
              "seconds": result["seconds"]}
    record.update(extra)
    print(json.dumps(record), flush=True)


def measure(binary, framework, redis, seconds, warm_seconds, cold_seconds):
    restarts = {}

    # (a), (b), (c): one process each; warmed over the 1,000 ids, then full hits and 90% hits.
    for setup, cache in [("(a) no cache", "none"), ("(b) framework's store", "framework"),
                         ("(c) TieredStore over Redis", "strata")]:
        redis.flush()
        server = Server(binary, framework, cache, redis)
        try:
            load([server], warm_seconds, 1.0)
            full = load([server], seconds, 1.0)
            figure(framework, "full hits", setup, full)
            figure(framework, "90% hits", setup, load([server], seconds, 0.9))
            if cache != "none":
                # A new process in place of the warm one: L2 (Redis) warms (c); nothing warms (b).
                server.stop()
                server = Server(binary, framework, cache, redis)
                first = load([server], seconds, 1.0)
                figure(framework, "restart", setup, first, warm=full["rps"])
                restarts[setup] = first
        finally:
            server.stop()

    # (d): two processes sharing Redis and the bus, started cold at once, with the lock.
    for lock in (True, False):
        redis.flush()
        servers = [Server(binary, framework, "strata", redis, lock=lock) for _ in range(2)]
        try:
            cold = load(servers, cold_seconds, 1.0)
            setup = "(d) two processes" + ("" if lock else ", no compute lock")
            figure(framework, "cold start", setup, cold, ids=WARM_IDS)
            if lock:
                figure(framework, "full hits", setup, load(servers, seconds, 1.0))
                figure(framework, "90% hits", setup, load(servers, seconds, 0.9))
        finally:
            for server in servers:
                server.stop()
    # (b)'s restart was a cold start too: its queries per id, beside (d)'s.
    figure(framework, "cold start", "(b) framework's store", restarts["(b) framework's store"], ids=WARM_IDS)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--frameworks", default="hummingbird,vapor")
    parser.add_argument("--quick", action="store_true", help="a second per load: checks it works, no figures")
    options = parser.parse_args()
    seconds, warm_seconds, cold_seconds = (1, 1, 1) if options.quick else (options.seconds, 3, 3)
    redis = Redis()
    try:
        for framework in options.frameworks.split(","):
            measure(os.path.abspath(options.binary), framework, redis, seconds, warm_seconds, cold_seconds)
    finally:
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())
