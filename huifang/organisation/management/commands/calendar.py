"""``huifang calendar import FILE``: store a year's official holiday schedule from a file.

The same importer as the Holiday calendar page: ``date,holiday|workday[,name]`` lines (a date
may be a range ``2027-10-01..2027-10-07``), all stored or, when any line is wrong, none.
``huifang calendar status`` lists which years the calendar knows.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from huifang.organisation import calendar


class Command(BaseCommand):
    help = "Import a year's official holiday schedule, or show which years are covered."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        load = commands.add_parser("import", help="import date,holiday|workday[,name] lines")
        load.add_argument("file", type=Path)
        load.add_argument(
            "--partial",
            action="store_true",
            help="the file is not a year's whole official schedule (the year stays 'missing')",
        )
        commands.add_parser("status", help="which years the calendar knows")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "status":
            self.status()
            return
        path: Path = options["file"]
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gb18030", errors="strict")
        try:
            result = calendar.import_schedule(text, official=not options["partial"])
        except ValidationError as exc:
            raise CommandError("\n".join(exc.messages)) from None
        years = ", ".join(str(y) for y in result.years)
        self.stdout.write(
            f"{result.created + result.updated} days for {years}: "
            f"{result.created} new, {result.updated} changed"
        )

    def status(self) -> None:
        this_year = timezone.localdate().year
        for entry in calendar.coverage(range(this_year - 1, this_year + 3)):
            if entry.bundled:
                state = "built in"
            elif entry.entered is not None:
                state = entry.entered.get_source_display()
            else:
                state = "MISSING: weekends only"
            self.stdout.write(f"{entry.year}  {state}")
