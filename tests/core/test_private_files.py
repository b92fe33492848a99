"""What embedded mode keeps under ``var/`` is its user's only, and the first administrator's
password file does not outlive the password."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from huifang.accounts import initial_password

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def start(var: Path) -> subprocess.CompletedProcess[str]:
    """A process of an embedded installation in ``var``: settings read, database opened."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HUIFANG_", "DATABASE_", "REDIS_", "SECRET_KEY"))
    }
    clean.update({"HUIFANG_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "huifang.settings"})
    code = (
        "import django; django.setup(); from django.db import connection; "
        "connection.cursor().execute('CREATE TABLE IF NOT EXISTS t (x)')"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=clean,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_var_and_the_files_in_it_are_readable_by_their_user_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which would leave them world-readable
    try:
        result = start(tmp_path / "var")
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    var = tmp_path / "var"
    assert mode(var) == "0o700"
    for name in ("huifang.db", "huey.db", "secret_key"):
        assert mode(var / name) == "0o600", name
    for journal in var.glob("huifang.db-*"):  # SQLite's WAL files take the database's mode
        assert mode(journal) == "0o600", journal.name


def test_an_existing_var_left_readable_by_an_older_version_is_tightened(tmp_path: Path) -> None:
    var = tmp_path / "var"
    assert start(var).returncode == 0
    var.chmod(0o755)
    for name in ("huifang.db", "huey.db", "secret_key"):
        (var / name).chmod(0o644)
    result = start(var)
    assert result.returncode == 0, result.stderr
    assert mode(var) == "0o700"
    for name in ("huifang.db", "huey.db", "secret_key"):
        assert mode(var / name) == "0o600", name


# -- var/admin-password.txt ------------------------------------------------------------------


@pytest.fixture
def installed(tmp_path: Path, settings: object) -> str:
    """``huifang run`` has created the administrator; the password it wrote down."""
    settings.VAR_DIR = tmp_path  # type: ignore[attr-defined]
    call_command("run", prepare_only=True, no_demo=True, stdout=StringIO())
    text = initial_password.path().read_text()
    return text.split("password: ")[1].strip()


@pytest.mark.django_db(transaction=True)
def test_the_password_file_goes_once_the_password_is_changed(installed: str) -> None:
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("a new and better passphrase")
    admin.save()  # the admin's user page and `huifang changepassword` both end here
    assert not initial_password.path().exists()


@pytest.mark.django_db(transaction=True)
def test_another_users_new_password_leaves_the_file(installed: str) -> None:
    other = get_user_model().objects.create_user("dora", password="x" * 20)
    other.set_password("another passphrase here")
    other.save()
    assert initial_password.path().exists()


@pytest.mark.django_db(transaction=True)
def test_run_deletes_the_file_when_its_password_no_longer_works(installed: str) -> None:
    again = StringIO()
    call_command("run", prepare_only=True, no_demo=True, stdout=again)
    assert initial_password.path().exists()  # unchanged: still the only copy
    assert "deleted once it is changed" in again.getvalue()
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("changed behind its back")
    get_user_model().objects.filter(pk=admin.pk).update(password=admin.password)
    assert initial_password.path().exists()
    call_command("run", prepare_only=True, no_demo=True, stdout=again)
    assert not initial_password.path().exists()
    assert installed not in again.getvalue()
