"""``huifang engine``: the claim loop on its own, or one pass of it (for operators and cron)."""

from __future__ import annotations

import json
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from huifang.core.clock import DatabaseClock
from huifang.core.processes import stop_on_signals
from huifang.engine.runner import loop, run_until_idle
from huifang.engine.triggers import evaluate_all
from huifang.messaging import dispatch


class Command(BaseCommand):
    help = "Run the follow-up engine's claim loop (workers already run it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="evaluate every rule, process everything due, send what is queued, print "
            "counts and exit",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            clock = DatabaseClock()
            enrolled = evaluate_all(clock.now())
            processed = run_until_idle(clock)
            dispatched = dispatch.run_until_idle(clock)
            self.stdout.write(
                json.dumps({"enrolled": enrolled, "processed": processed, "sent": dispatched})
            )
            return
        stop = threading.Event()
        stop_on_signals(stop)
        loop(stop)
