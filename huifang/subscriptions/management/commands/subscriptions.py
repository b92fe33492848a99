"""``huifang subscriptions``: the event subscriptions from the command line.

- ``list``: each subscription with its state and its deliveries by status;
- ``deliver``: send what is due until nothing is (``--once``), or keep delivering until
  interrupted (what ``huifang worker`` does in its own thread).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from huifang.core.processes import stop_on_signals
from huifang.subscriptions import delivery
from huifang.subscriptions.models import Delivery, Subscription


class Command(BaseCommand):
    help = "Event subscriptions: list them, or deliver what is due."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        commands.add_parser("list", help="each subscription and its deliveries by status")
        deliver = commands.add_parser("deliver", help="send the deliveries that are due")
        deliver.add_argument(
            "--once", action="store_true", help="stop when nothing is due (else run until Ctrl+C)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["command"] == "list":
            self.list()
        elif options["once"]:
            done = delivery.run_until_idle()
            self.stdout.write(f"{done} deliveries handled")
        else:
            stop = threading.Event()
            stop_on_signals(stop)
            self.stdout.write("Delivering (Ctrl+C to stop) …")
            delivery.loop(stop)

    def list(self) -> None:
        counts: Counter[tuple[int, str]] = Counter(
            Delivery.objects.values_list("subscription_id", "status")
        )
        for s in Subscription.objects.all():
            state = "active" if s.active else "paused"
            by_status = ", ".join(
                f"{status} {counts[(s.pk, status)]}"
                for status in Delivery.Status.values
                if counts[(s.pk, status)]
            )
            self.stdout.write(f"{s.pk}\t{s.name}\t{state}\t{s.url}\t{by_status or '-'}")
