"""``huifang worker``: a Huey consumer plus the engine's claim loop, the task reminder loop,
the dispatcher and the event subscriptions' deliveries.

Start as many as you like, on as many machines: every worker runs the claim loop, which looks
for due steps at least every second (ENGINE_POLL_MS) and claims them in batches with a lease,
so the workers share the due work without ever processing a step twice, and the dispatch loop,
which hands queued messages to their providers the same way. Exactly one worker per
deployment gets ``--scheduler`` and runs the periodic jobs (trigger evaluation, upkeep).
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from huifang.engine.runner import loop
from huifang.messaging import dispatch
from huifang.subscriptions import delivery
from huifang.tasks import reminders


class Command(BaseCommand):
    help = (
        "Run a background worker (a Huey consumer and the engine's claim loop). Start as many "
        "as you like; pass --scheduler to exactly one of them per deployment."
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
        parser.add_argument(
            "--no-engine", action="store_true", help="do not run the engine's claim loop"
        )
        parser.add_argument(
            "--no-dispatch",
            action="store_true",
            help="do not send queued messages or subscription deliveries",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        extra: dict[str, Any] = {}
        if options["workers"]:
            extra["workers"] = options["workers"]
        if not options["scheduler"]:
            extra["periodic"] = False
        stop = threading.Event()
        loops = []
        if not options["no_engine"]:
            loops.append(threading.Thread(target=loop, args=(stop,), name="engine", daemon=True))
            loops.append(
                threading.Thread(target=reminders.loop, args=(stop,), name="reminders", daemon=True)
            )
        if not options["no_dispatch"]:
            loops.append(
                threading.Thread(target=dispatch.loop, args=(stop,), name="dispatch", daemon=True)
            )
            loops.append(
                threading.Thread(
                    target=delivery.loop, args=(stop,), name="subscriptions", daemon=True
                )
            )
        for thread in loops:
            thread.start()
        try:
            call_command("run_huey", **extra)
        finally:
            stop.set()
            for thread in loops:
                thread.join(timeout=30)
