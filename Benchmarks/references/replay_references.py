"""Replays the real traces of traces.json through the reference implementations and prints
their hit ratios as strata-bench figures (JSON lines, group "traces"): libCacheSim's LRU,
ARC, LIRS, S3-FIFO, SIEVE and W-TinyLFU, and Caffeine's W-TinyLFU (CaffeineReplay.java).
Each request reads a page and, on a miss, writes it, as strata-bench replays them.

    python replay_references.py TRACES_DIRECTORY WORK_DIRECTORY CAFFEINE_JAR

The traces are from the ARC paper (Megiddo and Modha, FAST 03); cite it with the figures.
"""
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


def main():
    traces_directory, work, caffeine_jar = sys.argv[1:4]
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "traces.json")) as file:
        traces = json.load(file)["traces"]
    os.makedirs(work, exist_ok=True)
    subprocess.run(["javac", "-cp", caffeine_jar, "-d", work, os.path.join(here, "CaffeineReplay.java")], check=True,
                   stdout=sys.stderr)  # standard output is the run's figures
    for trace in traces:
        source = os.path.join(traces_directory, trace["file"])
        if not os.path.exists(source):
            print(f"replay_references: {source} is missing; {trace['name']} skipped", file=sys.stderr)
            continue
        pages = os.path.join(work, trace["name"] + ".txt")
        expand(source, pages)
        reader = libcachesim.TraceReader(pages, trace_type=libcachesim.TraceType.PLAIN_TXT_TRACE)
        for size in trace["sizes"]:
            for label, name in POLICIES:
                miss_ratio, _ = getattr(libcachesim, name)(cache_size=size).process_trace(reader)
                print(figure(trace["name"], size, f"libCacheSim {label}", 100 * (1 - miss_ratio)), flush=True)
        java = subprocess.run(["java", "-Xmx4g", "-cp", f"{caffeine_jar}:{work}", "CaffeineReplay", pages]
                              + [str(size) for size in trace["sizes"]], check=True, capture_output=True, text=True)
        for line in java.stdout.splitlines():
            size, ratio = line.split()
            print(figure(trace["name"], int(size), "Caffeine W-TinyLFU", float(ratio)), flush=True)


if __name__ == "__main__":
    main()
