"""``huifang dispatch``: the dispatch loop on its own, or one pass of it (workers run it too)."""

from __future__ import annotations

import json
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from huifang.core.processes import stop_on_signals
from huifang.messaging.dispatch import loop, run_until_idle


class Command(BaseCommand):
    help = "Send queued messages to their providers (workers already do this)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="send everything ready, print the count and exit"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            self.stdout.write(json.dumps({"dispatched": run_until_idle()}))
            return
        stop = threading.Event()
        stop_on_signals(stop)
        loop(stop)
