"""Security headers: a strict Content-Security-Policy that the templates can live with, the
frame and referrer headers, ``no-store`` on secret pages, HTTPS settings that make
``check --deploy`` clean, Swagger UI from our own static files, and one line per 403."""

from __future__ import annotations

import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from huifang.core.logs import ClientErrorsInOneLine

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "huifang" / "templates"

pytestmark = pytest.mark.django_db


def policy(response: Any) -> dict[str, list[str]]:
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def test_pages_carry_a_strict_content_security_policy(alice_client: Client) -> None:
    for answer in (Client().get("/login/"), alice_client.get("/customers/")):
        csp = policy(answer)
        assert csp["script-src"] == ["'self'"]  # no inline script, no eval, no CDN
        assert csp["style-src"] == ["'self'"]
        assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
        assert csp["frame-ancestors"] == ["'none'"]
        assert answer["X-Frame-Options"] == "DENY"
        assert answer["Referrer-Policy"] == "same-origin"
        assert answer["X-Content-Type-Options"] == "nosniff"


# What a CSP without 'unsafe-inline' in script-src would block.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
HANDLER = re.compile(r"""\son[a-z]+\s*=\s*["']""", re.I)
OTHER = re.compile(r"hx-on|javascript:|hx-vars|js:", re.I)


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_no_template_has_inline_script_or_event_handlers(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    for pattern in (INLINE_SCRIPT, HANDLER, OTHER):
        assert not pattern.search(text), f"{pattern.pattern} in {template.name}"


def test_the_token_page_is_never_stored(alice_client: Client) -> None:
    for answer in (
        alice_client.get("/settings/api-tokens/"),
        alice_client.post("/settings/api-tokens/", {"name": "订单系统"}),
    ):
        assert answer.status_code == 200
        assert "no-store" in answer["Cache-Control"]
        assert "private" in answer["Cache-Control"]


def test_signed_in_pages_are_not_stored_and_public_ones_are_left_alone(
    bob_client: Client,
) -> None:
    assert "no-store" in bob_client.get("/customers/")["Cache-Control"]
    assert "no-store" not in Client().get("/health/").get("Cache-Control", "")


def test_the_api_docs_load_swagger_ui_from_our_own_static_files() -> None:
    answer = Client().get("/api/docs")
    assert answer.status_code == 200
    page = answer.content.decode()
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert "/static/vendor/swagger-ui/swagger-ui.css" in page
    assert not re.search(r"""(src|href)=["']https?://""", page)  # no CDN
    assert not INLINE_SCRIPT.search(page)
    assert '"validatorUrl": null' in page
    vendored = ROOT / "huifang" / "static" / "vendor" / "swagger-ui"
    assert (vendored / "LICENSE").exists() and (vendored / "NOTICE").exists()
    assert Client().get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_a_403_is_logged_in_one_line_without_a_traceback(
    bob_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert bob_client.get("/settings/api-tokens/").status_code == 403
        assert bob_client.post("/rules/new/", {}).status_code == 403
    refused = [r for r in caplog.records if r.name == "django.request"]
    assert refused and all(getattr(r, "status_code", None) == 403 for r in refused)
    assert all(r.exc_info is None and r.exc_text is None for r in refused)
    handler = logging.StreamHandler()
    assert all("\n" not in handler.format(r) for r in refused)


def test_a_server_error_keeps_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("django.request", 40, "", 0, "x", (), sys.exc_info())
    record.status_code = 500  # type: ignore[attr-defined]  # as Django's log_response sets it
    assert ClientErrorsInOneLine().filter(record) and record.exc_info is not None


# -- check --deploy ---------------------------------------------------------------------------


def deploy_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("HUIFANG_", "DATABASE_", "REDIS_", "SECRET_KEY", "SECURE_", "DEBUG", "BASE_URL")
        )
        and k != "DJANGO_ALLOW_ASYNC_UNSAFE"  # the test run's (huifang/testing.py), not a server's
    }
    clean.update(
        {
            "HUIFANG_VAR_DIR": str(tmp_path / "var"),
            "DJANGO_SETTINGS_MODULE": "huifang.settings",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "huifang.example.com",
            "CSRF_TRUSTED_ORIGINS": "https://huifang.example.com",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "django", "check", "--deploy", "--fail-level", "WARNING"],
        env=clean,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


HTTPS = {
    "SESSION_COOKIE_SECURE": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "BASE_URL": "https://huifang.example.com",
}


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    result = deploy_check(tmp_path, **HTTPS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr


def test_without_the_https_settings_check_deploy_says_what_is_missing(tmp_path: Path) -> None:
    result = deploy_check(tmp_path)
    assert result.returncode != 0
    for warning in (
        "security.W004",
        "security.W008",
        "security.W012",
        "security.W016",
        "huifang.W001",  # BASE_URL unset: links in messages would not reach customers
    ):
        assert warning in result.stderr + result.stdout


def test_plain_http_is_redirected_except_the_health_check(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    answer = Client().get("/login/")
    assert answer.status_code == 301 and answer["Location"].startswith("https://")
    assert Client().get("/health/").status_code == 200
    secure = Client().get("/login/", secure=True)
    assert secure["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"
