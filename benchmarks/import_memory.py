"""What importing a module costs, by the top-level package that pays it: RSS, Python allocations, time.

Run in a fresh interpreter (it must see every import happen): each package is charged for what its
first import added, minus what the packages it imported in turn added, so the figures add up to the
whole. With `--traced`, bytes traced by tracemalloc instead of RSS (tracemalloc's own bookkeeping
would inflate the RSS). Prints one JSON object; used by benchmarks.bench_memory.
Usage: python -m benchmarks.import_memory [--traced] MODULE
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any


def rss_kib() -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text())[1])  # type: ignore[index]


def costs(module: str, measure: Callable[[], float]) -> dict[str, Any]:
    """Import `module` with importlib's loader wrapped: exclusive cost per top-level package."""
    bootstrap: Any = importlib._bootstrap
    original = bootstrap._find_and_load
    spent: dict[str, float] = defaultdict(float)
    seconds: dict[str, float] = defaultdict(float)
    nested: list[list[float]] = []  # per import in progress: [cost of what it imported, time of that]

    def find_and_load(name: str, import_: Any) -> Any:
        before, started = measure(), time.perf_counter()
        nested.append([0.0, 0.0])
        try:
            return original(name, import_)
        finally:
            inner, inner_time = nested.pop()
            total, took = measure() - before, time.perf_counter() - started
            package = name.partition(".")[0]
            spent[package] += total - inner
            seconds[package] += took - inner_time
            if nested:
                nested[-1][0] += total
                nested[-1][1] += took

    start = measure()
    bootstrap._find_and_load = find_and_load
    try:
        importlib.import_module(module)
    finally:
        bootstrap._find_and_load = original
    return {
        "start": start,
        "total": measure() - start,
        "by_package": dict(sorted(spent.items(), key=lambda item: -item[1])),
        "import_ms": round(sum(seconds.values()) * 1e3, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--traced", action="store_true", help="tracemalloc's bytes, not RSS")
    parser.add_argument("module")
    args = parser.parse_args()
    if args.traced:
        tracemalloc.start()
        found = costs(args.module, lambda: tracemalloc.get_traced_memory()[0] / 2**20)
    else:
        found = costs(args.module, lambda: rss_kib() / 1024)
    found["by_package"] = {key: round(value, 2) for key, value in found["by_package"].items()}
    found["start"], found["total"] = round(found["start"], 1), round(found["total"], 1)
    json.dump(found, sys.stdout)


if __name__ == "__main__":
    main()
