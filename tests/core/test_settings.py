"""Settings come from the environment and fail loudly, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HUIFANG_", "DATABASE_", "REDIS_", "SECRET_KEY"))
    }
    clean.update({"HUIFANG_VAR_DIR": str(tmp_path / "var"), **env})
    code = (
        "import huifang.settings as s, json; "
        "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], "
        "'huey': s.HUEY['huey_class'], 'tz': s.TIME_ZONE, 'lang': s.LANGUAGE_CODE, "
        "'hosts': s.ALLOWED_HOSTS, 'key': s.SECRET_KEY, 'email': s.EMAIL_BACKEND}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=clean,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_defaults_to_embedded_mode(tmp_path: Path) -> None:
    result = load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"engine": "django.db.backends.sqlite3"' in result.stdout
    assert '"huey": "huey.SqliteHuey"' in result.stdout
    assert '"tz": "Asia/Shanghai"' in result.stdout
    assert '"lang": "zh-hans"' in result.stdout
    assert "console.EmailBackend" in result.stdout


def test_it_generates_and_keeps_the_secret_key_under_var(tmp_path: Path) -> None:
    first = load_settings(tmp_path)
    second = load_settings(tmp_path)
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    key = key_file.read_text()
    assert len(key) >= 50
    assert key in first.stdout and key in second.stdout


def test_it_uses_postgres_and_redis_from_urls(tmp_path: Path) -> None:
    result = load_settings(
        tmp_path,
        DATABASE_URL="postgres://u:p@db.internal:5432/huifang",
        REDIS_URL="redis://cache.internal:6379/0",
        SECRET_KEY="x" * 40,
    )
    assert result.returncode == 0, result.stderr
    assert "postgresql" in result.stdout
    assert '"huey": "huey.RedisHuey"' in result.stdout


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "mysql://localhost/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "sqlite://"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://localhost:6379"}, "REDIS_URL"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE"),
        ({"LANGUAGE_CODE": "fr"}, "LANGUAGE_CODE"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"EMAIL_PORT": "twenty-five"}, "EMAIL_PORT"),
        ({"EMAIL_PORT": "70000"}, "EMAIL_PORT"),
        ({"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"}, "EMAIL_USE_SSL"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"DATABASE_URL": "postgres://localhost/huifang"}, "SECRET_KEY"),
        ({"CSRF_TRUSTED_ORIGINS": "huifang.example.com"}, "CSRF_TRUSTED_ORIGINS"),
        ({"PHONE_DEFAULT_REGION": "China"}, "PHONE_DEFAULT_REGION"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"API_BATCH_MAX_ROWS": "10"}, "API_BATCH_MAX_ROWS"),
        ({"HUIFANG_WORKER_THREADS": "0"}, "HUIFANG_WORKER_THREADS"),
    ],
)
def test_it_refuses_bad_values_naming_the_variable(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    result = load_settings(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr.splitlines()[-1]


def test_it_reads_secrets_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s" * 48 + "\n")
    result = load_settings(tmp_path, SECRET_KEY_FILE=str(secret))
    assert result.returncode == 0, result.stderr
    assert "s" * 48 in result.stdout


def test_it_refuses_both_a_secret_and_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s" * 48)
    result = load_settings(tmp_path, SECRET_KEY="k" * 40, SECRET_KEY_FILE=str(secret))
    assert result.returncode != 0
    assert "SECRET_KEY_FILE" in result.stderr.splitlines()[-1]


def test_it_reads_lists(tmp_path: Path) -> None:
    result = load_settings(tmp_path, ALLOWED_HOSTS="huifang.example.com, 10.0.0.5")
    assert '"hosts": ["huifang.example.com", "10.0.0.5"]' in result.stdout


def test_it_creates_the_queue_folder_for_postgres_without_redis(tmp_path: Path) -> None:
    result = load_settings(
        tmp_path, DATABASE_URL="postgres://u:p@db.internal:5432/huifang", SECRET_KEY="x" * 40
    )
    assert result.returncode == 0, result.stderr
    assert '"huey": "huey.SqliteHuey"' in result.stdout
    assert (tmp_path / "var").is_dir()
