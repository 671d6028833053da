"""Replays the real traces of traces.json through the reference implementations and prints
their hit ratios as strata-bench figures (JSON lines, group "traces"): libCacheSim's LRU,
ARC, LIRS, S3-FIFO, SIEVE and W-TinyLFU, and Caffeine's W-TinyLFU (CaffeineReplay.java).
Each request reads a page and, on a miss, writes it, as strata-bench replays them.

    python replay_references.py TRACES_DIRECTORY WORK_DIRECTORY CAFFEINE_JAR

The traces are from the ARC paper (Megiddo and Modha, FAST 03); cite it with the figures.
"""
import concurrent.futures
import json
import os
import subprocess
import sys

import libcachesim

POLICIES = [("LRU", "LRU"), ("ARC", "ARC"), ("LIRS", "LIRS"), ("S3-FIFO", "S3FIFO"), ("SIEVE", "Sieve"),
            ("W-TinyLFU", "WTinyLFU")]


def expand(source, target):
    """The trace as one page number a line (each `start count` request touches `count` pages)."""
    if os.path.exists(target):
        return
    text = subprocess.run(["zstd", "-dc", source], check=True, capture_output=True).stdout
    with open(target + ".partial", "w") as out:
        for line in text.splitlines():
            fields = line.split()
            if len(fields) < 2:
                continue
            start, count = int(fields[0]), int(fields[1])
            out.write("".join(f"{page}\n" for page in range(start, start + count)))
    os.rename(target + ".partial", target)


def figure(trace, size, policy, value):
    return json.dumps({"group": "traces", "name": f"{trace}, {size:,} pages: {policy}", "unit": "%",
                       "value": value, "x": size, "series": policy, "note": f"{trace}"})


def replay_libcachesim(pages, size, name):
    """One policy at one size: the hit ratio, in %."""
    reader = libcachesim.TraceReader(pages, trace_type=libcachesim.TraceType.PLAIN_TXT_TRACE)
    miss_ratio, _ = getattr(libcachesim, name)(cache_size=size).process_trace(reader)
    return 100 * (1 - miss_ratio)


def replay_caffeine(caffeine_jar, work, pages, sizes):
    """Caffeine at every size, in one JVM: {size: hit ratio in %}."""
    java = subprocess.run(["java", "-Xmx4g", "-cp", f"{caffeine_jar}:{work}", "CaffeineReplay", pages]
                          + [str(size) for size in sizes], check=True, capture_output=True, text=True)
    return {int(size): float(ratio) for size, ratio in (line.split() for line in java.stdout.splitlines())}


def main():
    traces_directory, work, caffeine_jar = sys.argv[1:4]
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "traces.json")) as file:
        traces = json.load(file)["traces"]
    os.makedirs(work, exist_ok=True)
    subprocess.run(["javac", "-cp", caffeine_jar, "-d", work, os.path.join(here, "CaffeineReplay.java")], check=True,
                   stdout=sys.stderr)  # standard output is the run's figures
    present = []
    for trace in traces:
        source = os.path.join(traces_directory, trace["file"])
        if not os.path.exists(source):
            print(f"replay_references: {source} is missing; {trace['name']} skipped", file=sys.stderr)
            continue
        pages = os.path.join(work, trace["name"] + ".txt")
        expand(source, pages)
        present.append((trace, pages))
    # Every replay is independent: two at a time, the machine's two cores (the figures are hit
    # ratios, not times). Caffeine's runs are the longest, so they go first.
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        caffeine = {trace["name"]: pool.submit(replay_caffeine, caffeine_jar, work, pages, trace["sizes"])
                    for trace, pages in present}
        libcachesim_runs = {(trace["name"], size, label): pool.submit(replay_libcachesim, pages, size, name)
                            for trace, pages in present for size in trace["sizes"] for label, name in POLICIES}
        for trace, _ in present:
            for size in trace["sizes"]:
                for label, _ in POLICIES:
                    ratio = libcachesim_runs[(trace["name"], size, label)].result()
                    print(figure(trace["name"], size, f"libCacheSim {label}", ratio), flush=True)
            for size, ratio in caffeine[trace["name"]].result().items():
                print(figure(trace["name"], size, "Caffeine W-TinyLFU", ratio), flush=True)


if __name__ == "__main__":
    main()
