"""``huifang simulate``: what the rules would do over a period, on a virtual clock."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from huifang.rules.document import RuleError, load_rule_text
from huifang.studio.simulate import SimulationError, simulate


class Command(BaseCommand):
    help = (
        "Run the engine on a virtual clock over the current data, sending nothing and changing "
        "nothing, and report per day what it would do."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--start",
            required=True,
            help="ISO 8601 start, e.g. 2026-09-28T00:00+08:00 (no offset: the organisation's zone)",
        )
        parser.add_argument("--days", type=int, default=14)
        parser.add_argument("--rules", help="comma-separated rule keys (default: active rules)")
        parser.add_argument("--file", type=Path, help="a rule file to try (YAML or JSON)")
        parser.add_argument(
            "--json",
            action="store_true",
            help="print JSON with every planned send and deferral",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            start = datetime.fromisoformat(options["start"])
        except ValueError:
            raise CommandError(f"--start is not an ISO 8601 time: {options['start']}") from None
        if start.tzinfo is None:
            start = timezone.make_aware(start)
        documents = []
        if options["file"]:
            try:
                text = options["file"].read_text(encoding="utf-8")
                documents = [load_rule_text(text)]
            except OSError as exc:
                raise CommandError(f"{options['file']}: {exc.strerror}") from None
            except RuleError as exc:
                raise CommandError(f"{options['file']}: {exc}") from None
        rules = (
            [k.strip() for k in options["rules"].split(",") if k.strip()]
            if options["rules"]
            else None
        )
        try:
            report = simulate(start, options["days"], rules=rules, documents=documents)
        except SimulationError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
            return
        self.stdout.write(f"rules: {', '.join(report['rules']) or '-'}")
        self.stdout.write(
            "date        enrolled  messages                  tasks  deferred  dropped"
        )
        for day in report["days"]:
            messages = " ".join(f"{k}={v}" for k, v in day["messages"].items()) or "-"
            deferred = " ".join(f"{k}={v}" for k, v in day["deferrals"].items()) or "-"
            dropped = " ".join(f"{k}={v}" for k, v in day["drops"].items()) or "-"
            self.stdout.write(
                f"{day['date']}  {day['enrollments']:>8}  {messages:<24}  {day['tasks']:>5}  "
                f"{deferred}  {dropped}"
            )
        totals = report["totals"]
        self.stdout.write(
            f"total: {totals.get('enrollments', 0)} enrolled, "
            f"{totals.get('messages', 0)} messages, {totals.get('tasks', 0)} tasks, "
            f"{totals.get('deferrals', 0)} deferrals, "
            f"{totals.get('drops', 0)} drops"
        )
        for reply in report["replies"]:
            read = f"{reply['metric']}={reply['score']}" if reply["metric"] else "a reply"
            self.stdout.write(
                f"reply {reply['at']} {reply['customer']['name']} ({reply['channel']}, "
                f"to {reply['answers'] or '-'}): “{reply['text']}” → {read}"
            )
        for task in report["tasks"]:
            self.stdout.write(f"task {task['at']} {task['rule']}/{task['step']}: {task['title']}")
        for rule, outcomes in report["outcomes"].items():
            counted = ", ".join(f"{k} {v}" for k, v in outcomes.items())
            self.stdout.write(f"plans of {rule}: {counted}")
