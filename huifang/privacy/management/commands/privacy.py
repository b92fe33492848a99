"""``huifang privacy``: the customer's rights for scripts and administrators.

huifang privacy export CUSTOMER_ID --out FILE.json|FILE.xlsx   everything held, in full (audited)
huifang privacy erase CUSTOMER_ID --reason "request 4711" --yes  erase their personal data
huifang privacy purge [--dry-run] [--months N]                  retention: purge old raw data
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.customers.models import Customer
from huifang.privacy import document, erasure, retention


class Command(BaseCommand):
    help = "The customer's rights: export everything held, erase, purge old raw data."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        export = commands.add_parser("export", help="everything held about one customer")
        export.add_argument("customer", type=int, help="the customer's number")
        export.add_argument("--out", type=Path, required=True, help="FILE.json or FILE.xlsx")
        erase = commands.add_parser("erase", help="erase one customer's personal data")
        erase.add_argument("customer", type=int, help="the customer's number")
        erase.add_argument("--reason", required=True, help="why, with the request's reference")
        erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
        purge = commands.add_parser("purge", help="purge raw data past HUIFANG_RETENTION_MONTHS")
        purge.add_argument("--dry-run", action="store_true", help="count, change nothing")
        purge.add_argument("--months", type=int, help="instead of the setting")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['command']}")(options)

    def _customer(self, number: int) -> Customer:
        found = Customer.objects.filter(pk=number).first()
        if found is None:
            raise CommandError(f"no customer #{number}")
        return found

    def _export(self, options: dict[str, Any]) -> None:
        out: Path = options["out"]
        kind = out.suffix.lower().lstrip(".")
        if kind not in ("json", "xlsx"):
            raise CommandError(f"{out.name}: the file must end in .json or .xlsx")
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent}: no such folder")
        customer = self._customer(options["customer"])
        now = timezone.now()
        with out.open("wb") as handle:
            out.chmod(0o600)  # personal data: this user's only
            if kind == "xlsx":
                rows = document.write_xlsx(customer, handle, now=now)
            else:
                rows = document.write_json(customer, handle, now=now)
        record(
            Entry.Action.EXPORT,
            f"access request ({kind}, command line)",
            object_type="customers.customer",
            object_id=customer.pk,
            object_repr=customer.audit_label,
            details={"format": kind, "rows": rows, "revealed": True, "file": out.name},
        )
        self.stdout.write(f"{rows} rows about customer #{customer.pk} written to {out}")

    def _erase(self, options: dict[str, Any]) -> None:
        customer = self._customer(options["customer"])
        if not options["yes"]:
            raise CommandError("erasure cannot be undone: add --yes to confirm")
        try:
            done = erasure.erase(customer, actor=None, reason=options["reason"])
        except erasure.ErasureRefused as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(
            f"customer #{customer.pk} erased: {sum(done.rows.values())} rows about them "
            "anonymised, "
            f"{done.cancelled['plans']} plans ended, {done.cancelled['tasks']} tasks and "
            f"{done.cancelled['messages']} messages cancelled (audit entry #{done.entry.seq})"
        )

    def _purge(self, options: dict[str, Any]) -> None:
        months = options["months"]
        if months is not None and months < 1:
            raise CommandError("--months must be at least 1")
        if (months or settings.RETENTION_MONTHS) <= 0:
            self.stdout.write("retention is off (HUIFANG_RETENTION_MONTHS=0): nothing purged")
            return
        done = retention.purge(timezone.now(), months=months, dry_run=options["dry_run"])
        verb = "would purge" if options["dry_run"] else "purged"
        self.stdout.write(
            f"{verb} data before {done.cutoff:%Y-%m-%d %H:%M} UTC: {done.events} events, "
            f"{done.messages} messages, {done.attempts} delivery attempts"
        )
