"""``huifang export``: the rows people work with as a file, for scripts (as the pages export
them: masked unless ``--reveal``; audited)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.core.exports import write_csv, write_xlsx
from huifang.customers.models import Customer
from huifang.exports import customers


class Command(BaseCommand):
    help = "Export customers as .xlsx or .csv (phone and e-mail masked unless --reveal)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("what", choices=["customers"])
        parser.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
        parser.add_argument("--out", type=Path, required=True, help="the file to write")
        parser.add_argument(
            "--reveal", action="store_true", help="personal details in full (audited)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path = options["out"]
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent}: no such folder")
        lines = customers.lines_of(Customer.objects.all(), reveal=options["reveal"])
        if options["format"] == "xlsx":
            rows = write_xlsx(lines, str(out), "customers")
        else:
            with out.open("w", encoding="utf-8", newline="") as handle:
                rows = write_csv(lines, handle)
        out.chmod(0o600)  # personal data: this user's only
        record(
            Entry.Action.EXPORT,
            f"customers ({options['format']}, command line)",
            object_type="customers.customer",
            details={"rows": rows - 1, "revealed": options["reveal"], "file": out.name},
        )
        self.stdout.write(f"{rows - 1} customers written to {out}")
