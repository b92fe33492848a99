"""``huifang export customers|tasks|messages|answers|audit``: the rows people work with as a
file, for scripts — as the pages export them (the same filters, given as ``--filter key=value``;
masked unless ``--reveal``; audited), written to a file only its owner may read."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from django.utils import timezone

from huifang.customers.models import Customer
from huifang.customers.search import CustomerFilters
from huifang.exports import customers, entries, messages, tables, tasks
from huifang.messaging.log import MessageFilters
from huifang.messaging.models import Message
from huifang.organisation.zones import organisation_zone
from huifang.studio import survey_export
from huifang.studio.dashboard import PeriodError
from huifang.studio.survey_figures import FilterError, read_filters
from huifang.surveys.models import Survey
from huifang.tasks.board import filtered
from huifang.tasks.models import Task

WHAT = ("customers", "tasks", "messages", "answers", "audit")
Lines = Iterator[list[Any]]


class Command(BaseCommand):
    help = (
        "Export customers, tasks, messages, questionnaire answers or the audit log as .xlsx or "
        ".csv (phone and e-mail masked unless --reveal; every export is in the audit log)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("what", choices=WHAT)
        parser.add_argument(
            "--format", choices=tables.KINDS, help="xlsx or csv (default: from --out, else xlsx)"
        )
        parser.add_argument("--out", type=Path, required=True, help="the file to write")
        parser.add_argument(
            "--reveal", action="store_true", help="personal details in full (audited)"
        )
        parser.add_argument(
            "--filter",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a filter of the list's page, e.g. status=done, city=杭州市, from=2026-01-01",
        )
        parser.add_argument("--survey", help="answers: the questionnaire's key")

    def handle(self, *args: Any, **options: Any) -> None:
        what: str = options["what"]
        out: Path = options["out"]
        kind = options["format"] or ("csv" if out.suffix.lower() == ".csv" else "xlsx")
        reveal: bool = options["reveal"]
        if reveal and what == "audit":
            raise CommandError("--reveal: the audit log holds no personal detail to reveal")
        _check_writable(out)
        params = _params(options["filter"])
        lines, count, sheet = self.table(what, params, options["survey"], reveal=reveal)
        try:
            tables.check(count, kind, most=tables.XLSX_ROWS if kind == "xlsx" else count)
        except tables.TooMany as refused:
            raise CommandError(str(refused)) from None
        try:
            rows = tables.write_file(lines, kind, out, sheet)
        except OSError as failed:
            raise CommandError(f"{out}: {failed.strerror or failed}") from None
        tables.audit(
            what,
            kind,
            rows=rows,
            revealed=reveal,
            filters="&".join(options["filter"]),
            command_line=True,
        )
        self.stdout.write(f"{rows} {what} written to {out}")

    def table(
        self, what: str, params: dict[str, str], survey: str | None, *, reveal: bool
    ) -> tuple[Lines, int, str]:
        """The lines to write, how many rows they hold and the sheet's name."""
        now = timezone.now()
        found: QuerySet[Any]
        if what == "answers":
            return _answers(survey, params, now, reveal=reveal)
        if what == "customers":
            found = CustomerFilters.from_query(params).apply(Customer.objects.all())
            return customers.lines_of(found, reveal=reveal), found.count(), customers.sheet()
        if what == "tasks":
            found, _shown = filtered(Task.objects.all(), {"status": "all", **params}, now)
            return tasks.lines_of(found, reveal=reveal), found.count(), tasks.sheet()
        if what == "messages":
            chosen = MessageFilters.from_query(params)
            found = chosen.apply(Message.objects.all(), organisation_zone())
            return messages.lines_of(found, reveal=reveal), found.count(), messages.sheet()
        found, _query = entries.found(params)
        return entries.lines_of(found), found.count(), entries.sheet()


def _answers(
    key: str | None, params: dict[str, str], now: datetime, *, reveal: bool
) -> tuple[Lines, int, str]:
    keys = sorted(Survey.objects.values_list("key", flat=True))
    if not key:
        raise CommandError(f"answers: name the questionnaire with --survey KEY ({_list(keys)})")
    survey = Survey.objects.filter(key=key).first()
    if survey is None:
        raise CommandError(f"answers: no questionnaire {key!r} ({_list(keys)})")
    try:
        chosen = read_filters(survey, {"version": "all", **params}, now)
    except (FilterError, PeriodError) as refused:
        raise CommandError(f"answers: {refused}") from None
    lines, count = survey_export.lines_of(chosen, reveal=reveal)
    return lines, count, survey.key


def _list(keys: list[str]) -> str:
    return "questionnaires: " + ", ".join(keys) if keys else "there are no questionnaires"


def _params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise CommandError(f"--filter {pair!r}: write it as KEY=VALUE, e.g. status=done")
        params[key.strip()] = value.strip()
    return params


def _check_writable(out: Path) -> None:
    """A clear error before any row is read, rather than a traceback after."""
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise CommandError(f"{out}: the folder {folder} does not exist")
    if out.is_dir():
        raise CommandError(f"{out}: is a folder; name a file")
    if not os.access(folder, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise CommandError(f"{out}: not writable by this user")
