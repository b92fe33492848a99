"""``huifang run``: everything a small shop needs in one command.

Migrates, loads demo data into an empty database, makes sure an administrator exists, then
starts the web server (gunicorn) and one worker with the periodic scheduler, and keeps both
running until interrupted. If either stops, the other is stopped too and the command fails, so a
supervisor (systemd, a container runtime) sees the failure instead of a half-running platform.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from huifang.accounts import initial_password
from huifang.accounts.models import StaffProfile
from huifang.accounts.passwords import generate_password
from huifang.accounts.roles import Role, ensure_role_groups
from huifang.customers.models import Customer


class Command(BaseCommand):
    help = "Migrate, then run the web server and one worker (embedded mode: SQLite under var/)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bind",
            default=os.environ.get("HUIFANG_BIND", "127.0.0.1:8000"),
            help="address:port for the web server (default HUIFANG_BIND)",
        )
        parser.add_argument(
            "--no-demo", action="store_true", help="do not load demo data into an empty database"
        )
        parser.add_argument("--no-worker", action="store_true", help="run the web server only")
        parser.add_argument(
            "--prepare-only",
            action="store_true",
            help="migrate, load demo data and create the admin, then exit",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.prepare(load_demo=not options["no_demo"])
        if options["prepare_only"]:
            return
        self.serve(options["bind"], with_worker=not options["no_worker"])

    def prepare(self, *, load_demo: bool) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if not (settings.DEBUG or settings.TESTING):
            call_command("collectstatic", interactive=False, verbosity=0)
        ensure_role_groups()
        if load_demo and not Customer.objects.exists():
            self.stdout.write("Empty database: loading demo data (huifang demo) …")
            call_command("demo", stdout=self.stdout)
        self.ensure_admin()

    def ensure_admin(self) -> None:
        User = get_user_model()
        password_file = initial_password.path()
        if User.objects.filter(is_superuser=True).exists():
            if initial_password.forget_if_changed():
                self.stdout.write(f"The administrator's password was changed: {password_file} gone")
            elif password_file.exists():
                self.stdout.write(
                    f"Administrator password: see {password_file} (deleted once it is changed)"
                )
            return
        password = generate_password(User(username="admin", email="admin@localhost"))
        user = User.objects.create_superuser("admin", "admin@localhost", password)
        user.groups.add(ensure_role_groups()[Role.ADMIN])
        StaffProfile.objects.get_or_create(user=user, defaults={"display_name": "管理员"})
        initial_password.keep("admin", password)
        bar = "=" * 64
        self.stdout.write(
            self.style.SUCCESS(
                f"{bar}\nAdministrator created — log in with\n  username: admin\n"
                f"  password: {password}\nThe password is also in {password_file}, until you "
                f"change it\n{bar}"
            )
        )

    def serve(self, bind: str, *, with_worker: bool) -> None:
        python = sys.executable
        web = [
            python,
            "-m",
            "gunicorn",
            "huifang.wsgi:application",
            "--bind",
            bind,
            "--workers",
            str(os.environ.get("WEB_CONCURRENCY", "2")),
            "--threads",
            "4",
            "--timeout",
            "120",
            "--access-logfile",
            "-",
            "--log-level",
            "warning",
        ]
        processes = {"web": subprocess.Popen(web)}  # noqa: S603 - our own interpreter
        if with_worker:
            processes["worker"] = subprocess.Popen(  # noqa: S603
                [python, "-m", "huifang.cli", "worker", "--scheduler"]
            )
        self.stdout.write(
            self.style.SUCCESS(f"Huifang is running on http://{bind}/ (Ctrl+C to stop)")
        )
        stopping = False

        def stop(signum: int, _frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        failed = None
        while not stopping and failed is None:
            for name, process in processes.items():
                if process.poll() is not None:
                    failed = name
            time.sleep(0.5)
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if failed:
            self.stderr.write(f"The {failed} process stopped unexpectedly; Huifang stopped.")
            sys.exit(1)
