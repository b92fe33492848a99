"""``huifang backup [PATH]``: a consistent copy of the database, safe while Huifang runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from huifang.server import backups


class Command(BaseCommand):
    help = (
        "Back up the database to PATH (default var/backups/huifang-<UTC time>.sqlite3 or .dump): "
        "SQLite with its online backup API, PostgreSQL with pg_dump's custom format."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help="where to write the backup (a new file)")

    def handle(self, *args: Any, **options: Any) -> None:
        database = settings.DATABASES[DEFAULT_DB_ALIAS]
        try:
            path = (
                Path(options["path"])
                if options["path"]
                else backups.default_path(Path(settings.VAR_DIR), database)
            )
            written = backups.backup(database=database, path=path)
        except backups.BackupError as exc:
            raise CommandError(str(exc)) from None
        size = written.stat().st_size
        self.stdout.write(self.style.SUCCESS(f"Backed up to {written} ({size:,} bytes)"))
        self.stdout.write(
            "Keep the secret key with it (SECRET_KEY / SECRETS_KEY, or var/secret_key): "
            "providers' passwords in the backup are encrypted with it."
        )
