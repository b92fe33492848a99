#!/usr/bin/env python3
"""Benchmark importing and exporting customers (issue 21): a 1,000,000-row .xlsx imported
against 1,000,000 customers already there, de-duplicated on the phone, and 1,000,000
customers exported.

For each database (SQLite; PostgreSQL when it answers on localhost, or ``--only`` one), on a
throw-away database:

1. ``--existing`` customers (1,000,000) are loaded by set-based SQL (``INSERT … SELECT``), with
   phones ``+86 138…`` from ``--rows / 2`` on and no e-mail.
2. A workbook of ``--rows`` (1,000,000) customers is written as Excel writes one (shared
   strings; the phone a number cell, the birthday a date cell): 姓名, 手机号码, 邮箱, 会员等级,
   城市, 生日. Its second half has the phones of existing customers.
3. ``export``: ``huifang export customers --format csv`` (and ``xlsx`` with ``--xlsx``) of the
   existing customers, each in a process of its own: wall time, rows, peak memory.
4. ``import``: ``--runs`` times (3), on a fresh copy of the loaded database,
   ``huifang import customers FILE --match phone --policy fill_empty --json`` in a process of
   its own: wall time and peak memory (see ``timed``: the heap of the process and of its
   reading process, and its resident set, which also counts the pages SQLite maps in).
   Every run must find what the file holds: half the rows new customers, half merged into the
   existing ones (their e-mail filled in), none refused — else the benchmark fails.

Figures are the medians of the runs, beside each run's, with ``machine_reference_s``: the
seconds a fixed piece of plain Python took before and after, to compare machines by.
Targets: import ≤ 120 s on PostgreSQL and ≤ 180 s on SQLite with at most 500 MB; export
≤ 60 s.

    .venv/bin/python bench/imports.py [--only sqlite|postgres] [--rows 1000000]
        [--existing 1000000] [--runs 3] [--xlsx]

``--smoke`` (for CI): 2,000 rows against 2,000 customers, one run, both formats.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    from common import (
        ROOT,
        create_postgres,
        databases,
        drop_postgres,
        insert_select,
        machine_reference,
        postgres_url,
        throwaway,
        unique_name,
    )
except ImportError:  # imported as bench.imports
    from bench.common import (
        ROOT,
        create_postgres,
        databases,
        drop_postgres,
        insert_select,
        machine_reference,
        postgres_url,
        throwaway,
        unique_name,
    )

FIRST_PHONE = 13800000000
TIERS = ("普通", "银卡", "金卡", "VIP")
CITIES = ("杭州", "上海", "北京", "深圳", "成都", "武汉", "南京", "西安")
HEADERS = ("姓名", "手机号码", "邮箱", "会员等级", "城市", "生日")
TARGET_S = {"sqlite": 180, "postgres": 120}
TARGET_MB = 500
TARGET_EXPORT_S = 60


# -- the workbook ---------------------------------------------------------------------------


def _column(index: int) -> str:
    return "ABCDEF"[index]


def write_workbook(path: Path, rows: int) -> None:
    """A workbook as Excel saves one: text in the shared-strings table, numbers and dates in
    the cells (the birthday with a date format), written as a stream."""
    strings: dict[str, int] = {}

    def shared(text: str) -> int:
        found = strings.get(text)
        if found is None:
            found = strings[text] = len(strings)
        return found

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES)
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK)
        book.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        book.writestr("xl/styles.xml", STYLES)
        epoch = date(1899, 12, 30).toordinal()
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet '
                f'xmlns="{MAIN}"><dimension ref="A1:F{rows + 1}"/><sheetData>'.encode()
            )
            header = "".join(
                f'<c r="{_column(c)}1" t="s"><v>{shared(h)}</v></c>' for c, h in enumerate(HEADERS)
            )
            sheet.write(f'<row r="1">{header}</row>'.encode())
            parts = []
            for i in range(rows):
                r = i + 2
                birthday = date(1960 + i % 45, i % 12 + 1, i % 28 + 1).toordinal() - epoch
                parts.append(
                    f'<row r="{r}"><c r="A{r}" t="s"><v>{shared(f"导入客户{i}")}</v></c>'
                    f'<c r="B{r}"><v>{FIRST_PHONE + i}</v></c>'
                    f'<c r="C{r}" t="s"><v>{shared(f"c{i}@example.cn")}</v></c>'
                    f'<c r="D{r}" t="s"><v>{shared(TIERS[i % len(TIERS)])}</v></c>'
                    f'<c r="E{r}" t="s"><v>{shared(CITIES[i % len(CITIES)])}</v></c>'
                    f'<c r="F{r}" s="1"><v>{birthday}</v></c></row>'
                )
                if len(parts) == 10_000:
                    sheet.write("".join(parts).encode())
                    parts = []
            sheet.write("".join(parts).encode())
            sheet.write(b"</sheetData></worksheet>")
        with book.open("xl/sharedStrings.xml", "w", force_zip64=True) as table:
            table.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{MAIN}" '
                f'count="{len(strings)}" uniqueCount="{len(strings)}">'.encode()
            )
            chunk = []
            for text in strings:  # in the order they were numbered
                chunk.append(f"<si><t>{escape(text)}</t></si>")
                if len(chunk) == 10_000:
                    table.write("".join(chunk).encode())
                    chunk = []
            table.write("".join(chunk).encode() + b"</sst>")


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_OFFICE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_OFFICE}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_OFFICE}.worksheet+xml"/>'
    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_OFFICE}.sharedStrings+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{_OFFICE}.styles+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<workbook xmlns="{MAIN}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets><sheet name="客户" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}sharedStrings" Target="sharedStrings.xml"/>'
    f'<Relationship Id="rId3" Type="{_REL}styles" Target="styles.xml"/>'
    "</Relationships>"
)
STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<styleSheet xmlns="{MAIN}"><fonts count="1"><font><sz val="11"/><name val="等线"/></font>'
    '</fonts><fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
    '<borders count="1"><border/></borders><cellStyleXfs count="1"><xf numFmtId="0"/>'
    '</cellStyleXfs><cellXfs count="2"><xf numFmtId="0" xfId="0"/>'
    '<xf numFmtId="14" xfId="0" applyNumberFormat="1"/></cellXfs></styleSheet>'
)


# -- steps run inside Django (``--step``), against the database the environment names -------


def load_existing(count: int, rows: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huifang.settings")
    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from huifang.customers.models import Customer

    pg = connection.vendor == "postgresql"
    series = (
        f"FROM generate_series(1::bigint, {count}) AS s(i)"
        if pg
        else f"FROM (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s "  # noqa: S608
        f"WHERE i < {count}) SELECT i FROM s) AS s"
    )
    now = timezone.now()
    stamp = f"timestamptz '{now.isoformat()}'" if pg else f"'{now:%Y-%m-%d %H:%M:%S}'"
    with transaction.atomic():
        insert_select(
            Customer,
            {
                "name": "'老客户' || i",
                "phone": f"'+86' || ({FIRST_PHONE + rows // 2 - 1} + i)",
                "city": "'杭州'",
                "source": "'pos'",
                "created_at": stamp,
                "updated_at": stamp,
            },
            series,
        )
    if pg:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


# -- the benchmark ----------------------------------------------------------------------------


def timed(env: dict[str, str], *args: str) -> tuple[float, int, int, str]:
    """Run a command in a process of its own: (wall seconds, its peak resident memory in MB,
    its peak anonymous memory in MB, stdout). The resident peak is the kernel's (``wait4``)
    and counts the database file's pages SQLite maps into memory (``mmap_size``), which the
    kernel may take back at any time; the anonymous peak — the heap of the process and of its
    children, sampled from ``/proc`` every 50 ms — is what the import itself holds."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=err, text=True)
        anonymous = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            anonymous = max(anonymous, _anonymous_kb(process.pid))
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{stderr[-3000:]}")
    return elapsed, round(usage.ru_maxrss / 1024), round(anonymous / 1024), stdout


def _anonymous_kb(pid: int) -> int:
    """The anonymous memory of ``pid`` and of its children (the import's reading process):
    pages a forked child still shares with its parent are counted in both, so this is an
    upper bound."""
    total = 0
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    total += int(line.split()[1])
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
            total += sum(_anonymous_kb(int(child)) for child in children.read().split())
    except OSError:
        pass
    return total


def copy_database(database: str, env: dict[str, str], var: str) -> tuple[dict[str, str], str]:
    """A copy of the loaded database for one run: (its environment, PostgreSQL name or "")."""
    if database == "postgres":
        name = unique_name()
        source = env["DATABASE_URL"].rsplit("/", 1)[1]
        create_postgres(name, source)
        return {**env, "DATABASE_URL": postgres_url(name)}, name
    run_var = Path(var) / f"run-{time.monotonic_ns()}"
    run_var.mkdir()
    source_db = Path(env["HUIFANG_VAR_DIR"]) / "huifang.db"
    with sqlite3.connect(source_db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(source_db, run_var / "huifang.db")
    return {**env, "HUIFANG_VAR_DIR": str(run_var)}, ""


def bench_database(database: str, args: argparse.Namespace, workbook: Path) -> dict[str, Any]:
    py = sys.executable
    script = str(Path(__file__).resolve())
    half = args.rows // 2
    expected_merged = min(args.rows - half, args.existing)
    with throwaway(database) as env, tempfile.TemporaryDirectory(prefix="huifang-bi-") as var:
        started = time.perf_counter()
        subprocess.run(
            [py, script, "--step", "load", "--existing", str(args.existing), "--rows",
             str(args.rows)],
            env=env, cwd=ROOT, check=True,
        )  # fmt: skip
        load_s = time.perf_counter() - started
        exports = {}
        for fmt in ("csv", "xlsx") if (args.xlsx or args.smoke) else ("csv",):
            out = Path(var) / f"export.{fmt}"
            seconds, peak, anonymous, _out = timed(
                env, py, "-m", "huifang.cli", "export", "customers", "--format", fmt,
                "--out", str(out),
            )  # fmt: skip
            exports[fmt] = {
                "rows": args.existing,
                "seconds": round(seconds, 2),
                "rows_per_s": round(args.existing / seconds),
                "peak_rss_mb": peak,
                "peak_anon_mb": anonymous,
                "bytes": out.stat().st_size,
            }
            out.unlink()
        runs = []
        for _run in range(args.runs):
            run_env, name = copy_database(database, env, var)
            try:
                seconds, peak, anonymous, stdout = timed(
                    run_env, py, "-m", "huifang.cli", "import", "customers", str(workbook),
                    "--match", "phone", "--policy", "fill_empty", "--json",
                )  # fmt: skip
            finally:
                drop_postgres(name)
            counts = json.loads(stdout)["counts"]
            wanted = {
                "created": args.rows - expected_merged,
                "updated": 0,
                "merged": expected_merged,
                "unchanged": 0,
                "refused": 0,
            }
            if counts != wanted:
                raise SystemExit(f"{database}: the import counted {counts}, not {wanted}")
            runs.append(
                {
                    "seconds": round(seconds, 2),
                    "peak_rss_mb": peak,
                    "peak_anon_mb": anonymous,
                    "counts": counts,
                }
            )
        median_s = statistics.median(r["seconds"] for r in runs)
        peak_mb = max(r["peak_anon_mb"] for r in runs)
        return {
            "load_existing_s": round(load_s, 1),
            "export": exports,
            "import": {
                "rows": args.rows,
                "existing": args.existing,
                "runs": runs,
                "median_s": median_s,
                "rows_per_s": round(args.rows / median_s),
                "peak_anon_mb": peak_mb,
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
                "target_s": TARGET_S[database],
                "target_mb": TARGET_MB,
                "within_target": median_s <= TARGET_S[database] and peak_mb <= TARGET_MB,
            },
            "export_within_target": exports["csv"]["seconds"] <= TARGET_EXPORT_S,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--existing", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--xlsx", action="store_true", help="export as .xlsx too")
    parser.add_argument("--smoke", action="store_true", help="tiny throw-away databases, for CI")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--step", choices=["load"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "load":
        load_existing(args.existing, args.rows)
        return
    if args.smoke:
        args.rows, args.existing, args.runs = 2000, 2000, 1
    with tempfile.TemporaryDirectory(prefix="huifang-bi-file-") as folder:
        workbook = Path(folder) / "客户.xlsx"
        started = time.perf_counter()
        write_workbook(workbook, args.rows)
        written_s = time.perf_counter() - started
        reference = machine_reference()
        results = {}
        for database in databases(args.only):
            results[database] = bench_database(database, args, workbook)
            print(f"[imports] {database}: {json.dumps(results[database]['import'])}",
                  file=sys.stderr)  # fmt: skip
        document = {
            "benchmark": "imports",
            "smoke": args.smoke,
            # Plain Python's pace on this machine, before and after (see machine_reference).
            "machine_reference_s": [reference, machine_reference()],
            "workbook": {
                "rows": args.rows,
                "bytes": workbook.stat().st_size,
                "written_s": round(written_s, 1),
            },
            "results": results,
        }
    print(json.dumps(document, indent=2, ensure_ascii=False))
    if not args.smoke and not all(r["import"]["within_target"] for r in results.values()):
        print("[imports] a figure is over its target", file=sys.stderr)


if __name__ == "__main__":
    main()
