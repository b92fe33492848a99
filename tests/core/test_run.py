"""``huifang run`` prepares an empty installation: schema, demo data, an administrator."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from huifang.customers.models import Customer


@pytest.fixture
def var_dir(tmp_path: Path, settings: object) -> Path:
    settings.VAR_DIR = tmp_path  # type: ignore[attr-defined]
    return tmp_path


@pytest.mark.django_db(transaction=True)
def test_it_loads_demo_data_and_creates_an_admin_once(var_dir: Path) -> None:
    out = StringIO()
    call_command("run", prepare_only=True, stdout=out)
    printed = out.getvalue()
    password_file = var_dir / "admin-password.txt"
    password = password_file.read_text().split("password: ")[1].strip()
    assert f"password: {password}" in printed
    assert oct(password_file.stat().st_mode & 0o777) == "0o600"
    assert Customer.objects.count() == 2000
    client = Client()
    # Through the login page: sign-in throttling needs the request to count it.
    signed_in = client.post("/login/", {"username": "admin", "password": password})
    assert signed_in.status_code == 302
    assert client.get("/customers/").status_code == 200

    again = StringIO()
    call_command("run", prepare_only=True, stdout=again)
    assert password not in again.getvalue()  # printed once; afterwards only where to find it
    assert str(password_file) in again.getvalue()
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    assert Customer.objects.count() == 2000  # demo data only into an empty database


@pytest.mark.django_db(transaction=True)
def test_it_can_start_without_demo_data(var_dir: Path) -> None:
    call_command("run", prepare_only=True, no_demo=True, stdout=StringIO())
    assert not Customer.objects.exists()
    assert var_dir == settings.VAR_DIR
