#!/usr/bin/env python3
"""Benchmark ``huifang demo``: seconds, customers/s and events/s, on SQLite and PostgreSQL.

Each run loads into a brand-new database (a temporary var/ directory for SQLite, a throw-away
database for PostgreSQL, when one answers on localhost). Prints one JSON document with every
run and the median per database. Target (issue 2): ≤ 20 s for 100,000 customers with their
~1,000,000 events on either database.

    .venv/bin/python bench/demo_load.py [--customers 100000] [--runs 3] [--only sqlite|postgres]
        [--smoke]

``--smoke``: 300 customers, one run, for CI: the figures mean nothing, a failure exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

try:
    from common import ROOT, databases, drop_postgres, new_database
except ImportError:  # imported as bench.demo_load
    from bench.common import ROOT, databases, drop_postgres, new_database

LOADED = re.compile(r"Loaded ([\d,]+) customers and ([\d,]+) events in ([\d.]+) s")


def huifang(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "huifang.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode:
        raise SystemExit(f"huifang {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def one_run(database: str, customers: int) -> dict[str, float | int | str]:
    with tempfile.TemporaryDirectory(prefix="huifang-bench-") as var:
        env, name = new_database(database, var)  # migrated, not timed
        try:
            started = time.perf_counter()
            out = huifang(env, "demo", "--customers", str(customers), "--seed", "1")
            wall = time.perf_counter() - started
        finally:
            drop_postgres(name)
    match = LOADED.search(out)
    if not match:
        raise SystemExit(f"unexpected output from huifang demo:\n{out[-2000:]}")
    loaded, events, seconds = (
        int(match[1].replace(",", "")),
        int(match[2].replace(",", "")),
        float(match[3]),
    )
    return {
        "database": database,
        "customers": loaded,
        "events": events,
        "seconds": round(seconds, 2),
        "wall_seconds": round(wall, 2),
        "customers_per_s": round(loaded / seconds),
        "events_per_s": round(events / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.customers, args.runs = 300, 1
    chosen = databases(args.only)
    runs = []
    for _round in range(args.runs):
        for database in chosen:  # interleaved, so machine noise hits both alike
            runs.append(one_run(database, args.customers))
            print(json.dumps(runs[-1]), file=sys.stderr)
    summary = {}
    for database in chosen:
        mine = [r for r in runs if r["database"] == database]
        seconds = statistics.median(float(r["seconds"]) for r in mine)
        summary[database] = {
            "median_seconds": round(seconds, 2),
            "median_customers_per_s": round(
                statistics.median(float(r["customers_per_s"]) for r in mine)
            ),
            "median_events_per_s": round(statistics.median(float(r["events_per_s"]) for r in mine)),
            "target_seconds": 20,
            "meets_target": seconds <= 20,
        }
    print(
        json.dumps(
            {
                "benchmark": "demo_load",
                "customers": args.customers,
                "runs": args.runs,
                "smoke": args.smoke,
                "cpu_count": os.cpu_count(),
                "median": summary,
                "all_runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
