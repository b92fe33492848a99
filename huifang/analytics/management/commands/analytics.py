from __future__ import annotations

import argparse
import json
import time
import unicodedata
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from huifang.analytics import kpis
from huifang.analytics.periods import GRAINS, PeriodError, period_from
from huifang.analytics.rollup import DayFailed, rebuild
from huifang.analytics.scope import ALL
from huifang.core.clock import DatabaseClock


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a day (YYYY-MM-DD): {value!r}") from None


def _jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"not a number of jobs (1 or more): {value!r}")
    return jobs


class Command(BaseCommand):
    help = "Rebuild the daily rollups the reports read."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        again = sub.add_parser(
            "rebuild", help="recompute the rollups of a range of days (all of history by default)"
        )
        again.add_argument("--from", dest="first", type=str, help="first day, YYYY-MM-DD")
        again.add_argument("--to", dest="last", type=str, help="last day, YYYY-MM-DD")
        again.add_argument(
            "--jobs",
            type=_jobs,
            help="days rewritten at once on PostgreSQL (default ANALYTICS_REBUILD_JOBS)",
        )
        figures = sub.add_parser(
            "kpis", help="print the key figures of a period (the whole organisation)"
        )
        figures.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD")
        figures.add_argument("--to", dest="last", required=True, help="last day, YYYY-MM-DD")
        figures.add_argument("--by", help="a dimension: " + ", ".join(kpis.DIMENSIONS))
        figures.add_argument(
            "--grain", choices=GRAINS, help="one row per day, week or month (a trend)"
        )
        figures.add_argument("--json", action="store_true", help="JSON for scripts")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "kpis":
            self._kpis(options)
            return
        first = _day(options["first"]) if options["first"] else None
        last = _day(options["last"]) if options["last"] else None
        if first and last and first > last:
            raise CommandError(f"--from {first} is after --to {last}")
        started = time.monotonic()
        try:
            done = rebuild(first, last, DatabaseClock().now(), jobs=options["jobs"])
        except DayFailed as exc:
            kept = f"the days already rebuilt ({len(exc.kept)}) stay so; " if exc.kept else ""
            raise CommandError(
                f"rebuild failed on {exc.day}: {exc.cause} ({kept}the others and the "
                "refresh's watermarks are as they were: run it again)"
            ) from exc
        except ValueError as exc:  # one bound given, beyond the other end of the history
            raise CommandError(str(exc)) from None
        took = time.monotonic() - started
        if not done.days:
            self.stdout.write(f"nothing to rebuild (no messages, tasks or answers) in {took:.1f} s")
            return
        self.stdout.write(
            f"rebuilt {len(done.days)} day{'s' if len(done.days) != 1 else ''}, "
            f"{done.days[0]} to {done.days[-1]}: "
            f"{done.rows} rollup rows in {took:.1f} s "
            f"({done.jobs} job{'s' if done.jobs != 1 else ''})"
        )

    def _kpis(self, options: dict[str, Any]) -> None:
        """The figures of ``kpis.totals`` (``--by``: ``breakdown``; ``--grain``: ``trend``)."""
        params = {"from": options["first"], "to": options["last"], "grain": options["grain"] or ""}
        try:
            period = period_from(params, DatabaseClock().now())
        except PeriodError as exc:
            raise CommandError(str(exc), returncode=2) from None
        by = options["by"]
        if by and by not in kpis.DIMENSIONS:
            raise CommandError(
                _("Unknown dimension: %(by)s (one of %(known)s).")
                % {"by": by, "known": ", ".join(kpis.DIMENSIONS)},
                returncode=2,
            )
        if by:
            rows = kpis.breakdown(period, ALL, by)
        elif options["grain"]:
            rows = kpis.trend(period, ALL)
        else:
            rows = [kpis.totals(period, ALL)]
        if options["json"]:
            self.stdout.write(json.dumps(as_json(period.as_params(), by, rows), ensure_ascii=False))
            return
        self.stdout.write(as_table(rows))


def _key(key: Any) -> Any:
    return key.isoformat() if isinstance(key, date) else key


def as_json(period: dict[str, str], by: str | None, rows: list[kpis.Row]) -> dict[str, Any]:
    return {
        "period": period,
        "by": by,
        "rows": [
            {"key": _key(row.key), "label": row.label, "values": row.values, "sums": row.sums}
            for row in rows
        ],
    }


def _shown(kpi: kpis.Kpi, value: float | None) -> str:
    if value is None:
        return "—"
    if kpi.unit == "rate":
        return f"{value:.1f} %"
    if kpi.unit == "points":
        return f"{value:+.1f} pp"
    if kpi.unit == "count":
        return f"{value:.0f}"
    if kpi.unit == "seconds":
        return f"{value / 60:.1f} min"
    return f"{value:.1f}"


def _width(text: str) -> int:
    """Columns a terminal gives ``text``: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _left(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def _right(text: str, width: int) -> str:
    return " " * max(width - _width(text), 0) + text


def as_table(rows: list[kpis.Row]) -> str:
    """One line per KPI, one column per row (the totals, a dimension's values or buckets)."""
    names = [str(kpi.label) for kpi in kpis.KPIS.values()]
    width = max(_width(n) for n in names) + 2
    head = _left("", width) + "".join(_right(row.label[:16], 18) for row in rows)
    lines = [head]
    for name, kpi in zip(names, kpis.KPIS.values(), strict=True):
        cells = "".join(_right(_shown(kpi, row.values.get(kpi.key)), 18) for row in rows)
        lines.append(_left(name, width) + cells)
    return "\n".join(lines)
