"""``huifang restore PATH``: put a backup back, into an empty database unless --force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from huifang.server import backups


class Command(BaseCommand):
    help = (
        "Restore a backup made by `huifang backup` into the database (DATABASE_URL). Stop the "
        "web server and the workers first. Refuses a database that has tables unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the backup file")
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace what the database holds (it is not empty)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        database = settings.DATABASES[DEFAULT_DB_ALIAS]
        # Our own connection would hold the SQLite file or a PostgreSQL session open.
        connections[DEFAULT_DB_ALIAS].close()
        try:
            backups.restore(database=database, path=Path(options["path"]), force=options["force"])
        except backups.BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Restored {options['path']}"))
        self.stdout.write(
            "Run `huifang migrate` if the backup comes from an older version, then start Huifang."
        )
