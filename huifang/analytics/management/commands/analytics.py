from __future__ import annotations

import time
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from huifang.analytics.rollup import rebuild
from huifang.core.clock import DatabaseClock


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a day (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = "Rebuild the daily rollups the reports read."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        again = sub.add_parser(
            "rebuild", help="recompute the rollups of a range of days (all of history by default)"
        )
        again.add_argument("--from", dest="first", type=str, help="first day, YYYY-MM-DD")
        again.add_argument("--to", dest="last", type=str, help="last day, YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        first = _day(options["first"]) if options["first"] else None
        last = _day(options["last"]) if options["last"] else None
        if first and last and first > last:
            raise CommandError(f"--from {first} is after --to {last}")
        started = time.monotonic()
        try:
            done = rebuild(first, last, DatabaseClock().now())
        except ValueError as exc:  # one bound given, beyond the other end of the history
            raise CommandError(str(exc)) from None
        took = time.monotonic() - started
        if not done.days:
            self.stdout.write(f"nothing to rebuild (no messages, tasks or answers) in {took:.1f} s")
            return
        self.stdout.write(
            f"rebuilt {len(done.days)} day{'s' if len(done.days) != 1 else ''}, "
            f"{done.days[0]} to {done.days[-1]}: "
            f"{done.rows} rollup rows in {took:.1f} s"
        )
