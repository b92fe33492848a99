"""``huifang audit verify``: check the audit log's hash chain."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from huifang.audit.services import verify


class Command(BaseCommand):
    help = "Check the audit log: every entry's hash, and the chain from the first to the last."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="command", required=True)
        sub.add_parser("verify", help="check every entry and the chain; exit 1 at the first break")

    def handle(self, *args: Any, **options: Any) -> None:
        checked, broken = verify()
        if broken is not None:
            raise CommandError(
                f"audit log broken at entry #{broken.seq} ({_WHY[broken.why]}); "
                f"{checked} entries before it are intact"
            )
        self.stdout.write(f"audit log intact: {checked} entries, chain unbroken")


_WHY = {
    "content": "its content does not match its hash: it was edited",
    "chain": "it does not point at the entry before it",
    "missing": "an entry is missing: deleted or never committed in order",
}
