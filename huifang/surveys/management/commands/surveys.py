from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from huifang.surveys.document import SurveyError, load_survey_text
from huifang.surveys.models import Survey
from huifang.surveys.services import export_survey, save_survey


class Command(BaseCommand):
    help = "List, import or export questionnaires as YAML or JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="list questionnaires with their status and versions")
        importer = sub.add_parser("import", help="import questionnaire files (all or nothing)")
        importer.add_argument("files", nargs="+", type=Path)
        importer.add_argument("--note", default="", help="why, kept with each version")
        exporter = sub.add_parser("export", help="print a questionnaire")
        exporter.add_argument("key")
        exporter.add_argument("--format", choices=["yaml", "json"], default="yaml")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "import":
            self.import_files(options["files"], note=options["note"])
        elif action == "export":
            self.export(options["key"], options["format"])
        else:
            self.list_surveys()

    def list_surveys(self) -> None:
        surveys = Survey.objects.select_related("current_version").order_by("key")
        for survey in surveys:
            current = f"v{survey.current_version.number}" if survey.current_version else "-"
            latest = survey.latest_version()
            newest = f"v{latest.number}" if latest else "-"
            self.stdout.write(f"{survey.key}\t{survey.status}\t{current}\t{newest}\t{survey.name}")

    def import_files(self, files: list[Path], *, note: str) -> None:
        """Every file is checked before any is saved, so a bad one leaves nothing half done."""
        documents = []
        for path in files:
            try:
                documents.append(load_survey_text(path.read_text(encoding="utf-8")))
            except OSError as exc:
                raise CommandError(f"{path}: {exc.strerror}") from None
            except SurveyError as exc:
                raise CommandError(f"{path}: {exc}") from None
        with transaction.atomic():
            for path, document in zip(files, documents, strict=True):
                saved = save_survey(document, note=note or f"imported from {path.name}")
                state = f"version {saved.version.number}" if saved.changed else "unchanged"
                self.stdout.write(f"{saved.survey.key}: {state}")

    def export(self, key: str, fmt: str) -> None:
        try:
            document = export_survey(key)
        except SurveyError as exc:
            raise CommandError(exc.message) from None
        if fmt == "json":
            self.stdout.write(json.dumps(document, ensure_ascii=False, indent=2))
        else:
            self.stdout.write(
                yaml.safe_dump(document, allow_unicode=True, sort_keys=False), ending=""
            )
