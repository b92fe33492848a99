"""``huifang import``: customers or events from a spreadsheet, as the import page does, for
scripts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from huifang.imports import events
from huifang.imports.models import Import
from huifang.imports.planning import MATCH_KEYS, MappingRefused, Plan, Problem, open_plan
from huifang.imports.reading import FileRefused
from huifang.imports.services import run, undo


class Command(BaseCommand):
    help = (
        "Import customers or events (orders, tickets, contracts) from an .xlsx, .xls or .csv "
        "file (one batch, undone with `huifang import undo ID`); --dry-run shows what it would "
        "do and writes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("what", choices=["customers", "events", "undo"])
        parser.add_argument("file", help="the file to import, or the id of the import to undo")
        parser.add_argument(
            "--mapping",
            type=Path,
            help="YAML: {columns: {header or letter: field}, policy: …, match: […]}",
        )
        parser.add_argument("--policy", choices=Import.Policy.values)
        parser.add_argument("--match", help=f"comma-separated, in order: {','.join(MATCH_KEYS)}")
        parser.add_argument("--type", help="events: the type of rows without a type column")
        parser.add_argument(
            "--create-customers",
            action="store_true",
            help="events: add the customers not found (rows that give a name)",
        )
        parser.add_argument(
            "--fire-rules",
            action="store_true",
            help="events: let rules react to the events (off: history starts no follow-up)",
        )
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["what"] == "undo":
            self.undo(options["file"], options["json"])
            return
        settings = self.mapping(options["mapping"])
        if options["what"] == "events":
            self.events(options, settings)
            return
        policy = options["policy"] or settings.get("policy") or Import.Policy.FILL_EMPTY
        match = options["match"] or ",".join(settings.get("match") or MATCH_KEYS)
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            plan = open_plan(
                path,
                mapping=settings.get("columns"),
                policy=policy,
                match_on=[k.strip() for k in match.split(",") if k.strip()],
            )
            if options["dry_run"]:
                # Streamed as the import would be: only the refused rows are kept.
                problems = [p for chunk in plan.chunks() for p in chunk.problems]
                batch = None
            else:
                batch = run(plan)
                problems = [
                    Problem(p.row, p.column, p.header, p.value, p.reason)
                    for p in batch.problems.all()
                ]
        except (FileRefused, MappingRefused) as exc:
            raise CommandError(f"{path.name}: {exc}") from None
        self.report(plan, batch, problems, options["json"])

    def mapping(self, path: Path | None) -> dict[str, Any]:
        if path is None:
            return {}
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise CommandError(f"{path}: {exc}") from None
        if not isinstance(loaded, dict) or not isinstance(loaded.get("columns", {}), dict):
            raise CommandError(f"{path}: expected {{columns: {{header: field}}, policy, match}}")
        return loaded

    def report(
        self, plan: Plan, batch: Import | None, refused: list[Problem], as_json: bool
    ) -> None:
        problems = [
            {
                "row": p.row,
                "column": p.column,
                "header": p.header,
                "value": p.value,
                "reason": p.reason,
            }
            for p in refused
        ]
        if as_json:
            document = {
                "import": batch.pk if batch is not None else None,
                "dry_run": batch is None,
                "header_row": plan.header_row,
                "columns": {plan.headers[i]: key for i, key in sorted(plan.mapping.items())},
                "counts": plan.counts,
                "preview": plan.preview(),
                "problems": problems,
            }
            self.stdout.write(json.dumps(document, ensure_ascii=False, indent=2))
            return
        counts = plan.counts
        what = "would be" if batch is None else "were"
        self.stdout.write(
            f"{plan.file_name}: header on row {plan.header_row}; columns "
            + ", ".join(f"{plan.headers[i]} → {key}" for i, key in sorted(plan.mapping.items()))
        )
        self.stdout.write(
            f"{counts['created']} created, {counts['updated']} updated, {counts['merged']} merged, "
            f"{counts['unchanged']} unchanged, {counts['refused']} refused ({what})"
        )
        for p in problems[:20]:
            self.stdout.write(f"  row {p['row']} {p['column']} {p['header']}: {p['reason']}")
        if len(problems) > 20:
            self.stdout.write(f"  … and {len(problems) - 20} more (--json lists them all)")
        if batch is not None:
            self.stdout.write(f"import {batch.pk}; undo with: huifang import undo {batch.pk}")

    def events(self, options: dict[str, Any], settings: dict[str, Any]) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        match = options["match"] or ",".join(settings.get("match") or events.EVENT_CUSTOMER_KEYS)
        try:
            outcome, batch = events.run(
                path,
                mapping=settings.get("columns"),
                event_type=options["type"] or settings.get("type") or "",
                match_on=[k.strip() for k in match.split(",") if k.strip()],
                create_customers=options["create_customers"]
                or bool(settings.get("create_customers")),
                fire_rules=options["fire_rules"] or bool(settings.get("fire_rules")),
                dry_run=options["dry_run"],
            )
        except (FileRefused, MappingRefused) as exc:
            raise CommandError(f"{path.name}: {exc}") from None
        head = outcome.head
        columns = {head.headers[i]: key for i, key in sorted(head.options.mapping.items())}
        problems = [
            {
                "row": p.row,
                "column": p.column,
                "header": p.header,
                "value": p.value,
                "reason": p.reason,
            }
            for p in outcome.problems
        ]
        if options["json"]:
            document = {
                "import": batch.pk if batch is not None else None,
                "dry_run": batch is None,
                "header_row": head.header_row,
                "columns": columns,
                "event_type": head.options.event_type,
                "fire_rules": batch.fire_rules if batch is not None else options["fire_rules"],
                "counts": outcome.counts,
                "preview": outcome.preview,
                "problems": problems,
            }
            self.stdout.write(json.dumps(document, ensure_ascii=False, indent=2))
            return
        counts = outcome.counts
        what = "would be" if batch is None else "were"
        self.stdout.write(
            f"{head.file_name}: header on row {head.header_row}; columns "
            + ", ".join(f"{name} → {key}" for name, key in columns.items())
        )
        self.stdout.write(
            f"{counts['added']} events added, {counts['repeated']} already there, "
            f"{counts['customers']} customers added, {counts['refused']} refused ({what})"
        )
        for p in problems[:20]:
            self.stdout.write(f"  row {p['row']} {p['column']} {p['header']}: {p['reason']}")
        if len(problems) > 20:
            self.stdout.write(f"  … and {len(problems) - 20} more (--json lists them all)")
        if batch is not None:
            self.stdout.write(f"import {batch.pk}; undo with: huifang import undo {batch.pk}")

    def undo(self, ident: str, as_json: bool) -> None:
        batch = Import.objects.filter(pk=int(ident) if ident.isdigit() else 0).first()
        if batch is None:
            raise CommandError(f"no import {ident}")
        if batch.status == Import.Status.UNDONE:
            raise CommandError(f"import {ident} was undone already")
        result = undo(batch)
        if batch.kind == Import.Kind.EVENTS and not as_json:
            self.stdout.write(
                f"import {ident} undone: {result.removed} events removed, {result.restored} "
                f"customers it added removed, {len(result.kept)} events kept"
            )
            for row, reason in sorted(result.reasons.items()):
                self.stdout.write(f"  row {row}: {reason}")
            return
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "removed": result.removed,
                        "restored": result.restored,
                        "kept": result.reasons,
                    },
                    ensure_ascii=False,
                )
            )
            return
        self.stdout.write(
            f"import {ident} undone: {result.removed} customers removed, {result.restored} "
            f"restored, {len(result.kept)} left as they are"
        )
        for row, reason in sorted(result.reasons.items()):
            self.stdout.write(f"  row {row}: {reason}")
