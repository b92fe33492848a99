from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from huifang.engine.lifecycle import InFlight, activate, archive, pause, resume, rollback
from huifang.rules.document import RuleError, load_rule_text
from huifang.rules.models import Rule
from huifang.rules.services import copy_rule, exported, save_rule

IN_FLIGHT_HELP = (
    "customers part-way through the rule: keep them on their version (default), move them to "
    "the new one at their next step, or end their plans"
)


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
        importer.add_argument(
            "--in-flight", choices=InFlight.choices, default=InFlight.KEEP, help=IN_FLIGHT_HELP
        )
        activator = sub.add_parser("activate", help="run a version of a rule")
        activator.add_argument("key")
        activator.add_argument("--version", type=int, help="version number (default: latest)")
        activator.add_argument(
            "--in-flight", choices=InFlight.choices, default=InFlight.KEEP, help=IN_FLIGHT_HELP
        )
        back = sub.add_parser("rollback", help="run an older version again, as a new version")
        back.add_argument("key")
        back.add_argument("--to", type=int, required=True, help="the version number to restore")
        back.add_argument(
            "--in-flight", choices=InFlight.choices, default=InFlight.KEEP, help=IN_FLIGHT_HELP
        )
        for name, text in (
            ("pause", "pause rules"),
            ("resume", "resume paused rules"),
            ("archive", "retire rules: running plans end"),
        ):
            sub.add_parser(name, help=text).add_argument("keys", nargs="+")
        copier = sub.add_parser("copy", help="copy a rule into a new draft")
        copier.add_argument("key")
        copier.add_argument("new_key")
        copier.add_argument("--name", required=True)
        sub.add_parser("list", help="list rules with their status and running version")
        exporter = sub.add_parser("export", help="print rules (all, or the keys given)")
        exporter.add_argument("keys", nargs="*")
        exporter.add_argument("--format", choices=["yaml", "json"], default="yaml")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "import":
            self.import_files(
                options["files"],
                activate_them=options["activate"],
                comment=options["comment"],
                in_flight=options["in_flight"],
            )
        elif action == "export":
            self.export(options["keys"], options["format"])
        elif action == "activate":
            rule = self.rule(options["key"])
            version = (
                rule.versions.filter(number=options["version"]).first()
                if options["version"]
                else rule.latest_version()
            )
            if version is None:
                raise CommandError(f"{rule.key} has no such version")
            changed = activate(rule, version, in_flight=options["in_flight"])
            self.stdout.write(
                f"{rule.key}: running version {version.number} ({changed} moved/ended)"
            )
        elif action == "rollback":
            rule = self.rule(options["key"])
            old = rule.versions.filter(number=options["to"]).first()
            if old is None:
                raise CommandError(f"{rule.key} has no version {options['to']}")
            version = rollback(rule, old, in_flight=options["in_flight"])
            self.stdout.write(
                f"{rule.key}: version {version.number} runs version {old.number}'s content"
            )
        elif action in ("pause", "resume", "archive"):
            rules = [self.rule(key) for key in options["keys"]]
            count = {"pause": pause, "resume": resume, "archive": archive}[action](rules)
            self.stdout.write(f"{action}d {count} rule(s)")
        elif action == "copy":
            try:
                saved = copy_rule(self.rule(options["key"]), options["new_key"], options["name"])
            except RuleError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"{saved.rule.key}: draft version {saved.version.number}")
        else:
            for rule in Rule.objects.select_related("current_version").order_by("key"):
                running = f"v{rule.current_version.number}" if rule.current_version else "-"
                self.stdout.write(f"{rule.key}\t{rule.status}\t{running}\t{rule.name}")

    def rule(self, key: str) -> Rule:
        rule = Rule.objects.filter(key=key).first()
        if rule is None:
            raise CommandError(f"no rule with the key {key}")
        return rule

    def import_files(
        self, files: list[Path], *, activate_them: bool, comment: str, in_flight: str
    ) -> None:
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
                try:
                    saved = save_rule(document, comment=comment or f"imported from {path.name}")
                except RuleError as exc:  # names what does not exist (a questionnaire)
                    raise CommandError(f"{path}: {exc}") from None
                if activate_them:
                    activate(saved.rule, saved.version, in_flight=in_flight)
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
