from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from huifang.rules.document import RuleError, load_rule_text
from huifang.rules.models import Rule
from huifang.rules.services import activate, exported, save_rule


class Command(BaseCommand):
    help = "Import or export follow-up rules as YAML or JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        importer = sub.add_parser("import", help="import rule files (all or nothing)")
        importer.add_argument("files", nargs="+", type=Path)
        importer.add_argument(
            "--activate", action="store_true", help="make the imported versions the running ones"
        )
        importer.add_argument("--comment", default="", help="why, kept with each version")
        exporter = sub.add_parser("export", help="print rules (all, or the keys given)")
        exporter.add_argument("keys", nargs="*")
        exporter.add_argument("--format", choices=["yaml", "json"], default="yaml")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "import":
            self.import_files(
                options["files"], activate_them=options["activate"], comment=options["comment"]
            )
        else:
            self.export(options["keys"], options["format"])

    def import_files(self, files: list[Path], *, activate_them: bool, comment: str) -> None:
        documents = []
        for path in files:
            try:
                documents.append(load_rule_text(path.read_text(encoding="utf-8")))
            except OSError as exc:
                raise CommandError(f"{path}: {exc.strerror}") from None
            except RuleError as exc:
                raise CommandError(f"{path}: {exc}") from None
        with transaction.atomic():
            for path, document in zip(files, documents, strict=True):
                saved = save_rule(document, comment=comment or f"imported from {path.name}")
                if activate_them:
                    activate(saved.rule, saved.version)
                state = f"version {saved.version.number}" if saved.changed else "unchanged"
                self.stdout.write(f"{saved.rule.key}: {state}")

    def export(self, keys: list[str], fmt: str) -> None:
        rules = Rule.objects.order_by("key")
        if keys:
            rules = rules.filter(key__in=keys)
            missing = set(keys) - set(rules.values_list("key", flat=True))
            if missing:
                raise CommandError(f"no rule with the key(s): {', '.join(sorted(missing))}")
        documents = [exported(rule) for rule in rules if rule.versions.exists()]
        if fmt == "json":
            body = documents[0] if len(documents) == 1 else documents
            self.stdout.write(json.dumps(body, ensure_ascii=False, indent=2))
        else:
            self.stdout.write(
                yaml.safe_dump_all(documents, allow_unicode=True, sort_keys=False), ending=""
            )
