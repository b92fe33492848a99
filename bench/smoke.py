#!/usr/bin/env python3
"""Every benchmark at smoke size (``--smoke``), on SQLite and on PostgreSQL when it answers on
localhost, so that none can rot unnoticed (``make bench-smoke``, run by ``.ci/run``).

The figures mean nothing at this size; what counts is that every benchmark still goes through
all of its steps. Each runs on throw-away databases: one migrated database per kind is made
first and copied for each of them (a copy takes a fraction of a second, a migration about
five), and everything is dropped at the end. Each benchmark runs once per database
(``--only``), ``--jobs`` of these runs side by side (default 3: much of a smoke run is
waiting — for processes to start, for the database, for the engine's timers — and the machine
may be shared). Prints one JSON document with each run's wall time; exits non-zero when any
run failed, after running the others.

    .venv/bin/python bench/smoke.py [--only sqlite|postgres] [--jobs 3] [NAME …]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

try:
    from common import (
        TEMPLATE_POSTGRES,
        TEMPLATE_SQLITE,
        bench_env,
        create_postgres,
        databases,
        drop_postgres,
        postgres_url,
        unique_name,
    )
except ImportError:  # imported as bench.smoke
    from bench.common import (
        TEMPLATE_POSTGRES,
        TEMPLATE_SQLITE,
        bench_env,
        create_postgres,
        databases,
        drop_postgres,
        postgres_url,
        unique_name,
    )

BENCH = Path(__file__).resolve().parent
TIMEOUT_S = 300  # a smoke run takes under a minute even on a busy machine: longer is a hang
RUNNING: set[int] = set()  # process groups of the runs under way
# The longest first, so that side by side they end close together.
BENCHMARKS = (
    "dispatch",
    "engine",
    "customer_list",
    "demo_load",
    "workspace",
    "surveys",
    "analytics",
    "rules_dashboard",
    "audience",
    "preview",
    "imports",
    "template_bomb",
)
# Benchmarks that use no database: one run, on the first database chosen.
NO_DATABASE = ("template_bomb",)


def log(message: str) -> None:
    print(f"[smoke] {message}", file=sys.stderr, flush=True)


def migrate_templates(chosen: list[str], var: str) -> tuple[dict[str, str], str]:
    """Migrate one database of each kind, side by side: (the variables that point the
    benchmarks at them, the PostgreSQL template's name or "")."""
    env = bench_env(var)
    name = unique_name("huifang_bench_template") if "postgres" in chosen else ""
    commands = []
    if "sqlite" in chosen:
        commands.append(env)
    if name:
        create_postgres(name)
        commands.append({**env, "DATABASE_URL": postgres_url(name)})
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "huifang.cli", "migrate", "-v0"],
            env=e,
            cwd=BENCH.parent,
            stderr=subprocess.PIPE,
            text=True,
        )
        for e in commands
    ]
    outcomes = [(p.communicate()[1], p.returncode) for p in processes]
    failed = [stderr for stderr, code in outcomes if code]
    if failed:
        drop_postgres(name)
        raise SystemExit("migrating the template databases failed:\n" + "\n".join(failed))
    templates = {}
    if "sqlite" in chosen:
        path = Path(var) / "huifang.db"
        with sqlite3.connect(path) as conn:  # everything in the file itself, none in the WAL
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        templates[TEMPLATE_SQLITE] = str(path)
    if name:
        templates[TEMPLATE_POSTGRES] = name
    return templates, name


def run_one(benchmark: str, database: str, env: dict[str, str]) -> dict[str, object]:
    command = [sys.executable, str(BENCH / f"{benchmark}.py"), "--smoke", "--only", database]
    started = time.perf_counter()
    # A process group of its own: whatever it leaves behind, or a run that hangs, is killed
    # with it instead of keeping CI waiting.
    process = subprocess.Popen(
        command,
        env=env,
        cwd=BENCH.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    RUNNING.add(process.pid)
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        stderr += f"\n[smoke] killed after {TIMEOUT_S} s"
    finally:
        RUNNING.discard(process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    seconds = round(time.perf_counter() - started, 1)
    result: dict[str, object] = {"seconds": seconds, "ok": done.returncode == 0}
    if done.returncode == 0:
        try:
            report = json.loads(done.stdout)
        except ValueError:
            result.update(ok=False, error="its output is not one JSON document")
        else:
            if report.get("skipped"):
                result["skipped"] = report["skipped"]
    else:
        result["error"] = f"exit {done.returncode}"
    label = f"{benchmark} on {database}"
    if not result["ok"]:
        log(f"{label} FAILED ({result['error']}); its stderr ends:\n{done.stderr[-4000:]}")
    else:
        log(f"{label}: {'skipped' if 'skipped' in result else 'ok'} in {seconds} s")
    return result


def interrupt_running() -> None:
    for group in list(RUNNING):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGINT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--jobs", type=int, default=3, help="benchmark runs side by side")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(BENCHMARKS)}")
    args = parser.parse_args()
    if unknown := set(args.names) - set(BENCHMARKS):
        parser.error(f"no benchmark {', '.join(sorted(unknown))}")
    chosen = databases(args.only)
    if not chosen:
        raise SystemExit("no database to run on")
    # One run per benchmark and database, the (longer) PostgreSQL ones first.
    runs = [
        (b, d)
        for b in args.names or BENCHMARKS
        for d in ("postgres", "sqlite")
        if d in chosen and (b not in NO_DATABASE or d == chosen[0])
    ]
    started = time.perf_counter()
    results: dict[str, dict[str, dict[str, object]]] = {}
    with tempfile.TemporaryDirectory(prefix="huifang-bench-template-") as var:
        templates, template = migrate_templates(chosen, var)
        log(f"migrated {', '.join(chosen)} in {time.perf_counter() - started:.1f} s")
        try:
            # Nothing of the caller's: each benchmark makes its own databases.
            env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
            env.update(templates)
            with ThreadPoolExecutor(max(1, args.jobs)) as pool:
                try:
                    done = pool.map(lambda run: run_one(*run, env), runs)
                    for (benchmark, database), result in zip(runs, done, strict=True):
                        results.setdefault(benchmark, {})[database] = result
                except BaseException:
                    # Interrupted (Ctrl+C reaches only our own process group): so are the
                    # runs under way, which then drop their databases; the rest never start.
                    pool.shutdown(wait=False, cancel_futures=True)
                    interrupt_running()
                    raise
        finally:
            drop_postgres(template)
    total = round(time.perf_counter() - started, 1)
    failed = [f"{b} on {d}" for b, by in results.items() for d, r in by.items() if not r["ok"]]
    print(
        json.dumps(
            {
                "benchmark": "smoke",
                "databases": chosen,
                "cpu_count": os.cpu_count(),
                "total_s": total,
                "results": results,
                "ok": not failed,
            },
            indent=2,
        )
    )
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")
    log(f"all {len(runs)} runs of {len(results)} benchmarks in {total} s")


if __name__ == "__main__":
    main()
