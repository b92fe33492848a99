from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Run a background worker (a Huey consumer). Start as many as you like; pass "
        "--scheduler to exactly one of them per deployment to run periodic jobs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scheduler",
            action="store_true",
            help="also run the periodic scheduler (one per deployment)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="worker threads (default HUIFANG_WORKER_THREADS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        extra: dict[str, Any] = {}
        if options["workers"]:
            extra["workers"] = options["workers"]
        if not options["scheduler"]:
            extra["periodic"] = False
        call_command("run_huey", **extra)
