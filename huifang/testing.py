"""Loaded by pytest before Django (``-p huifang.testing`` in pyproject.toml).

Sets the environment a test run needs before settings are read: test mode (static files served
by the finders), Huey tasks run inline, and a throw-away var/ directory so a test run never
touches the database or secret key of a platform running from the same checkout.
"""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault("HUIFANG_TESTING", "1")
os.environ.setdefault("HUIFANG_HUEY_IMMEDIATE", "1")
os.environ.setdefault("HUIFANG_VAR_DIR", tempfile.mkdtemp(prefix="huifang-test-"))
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist's workers inherit the directory of the run that started them: one each.
    os.environ["HUIFANG_VAR_DIR"] = os.path.join(os.environ["HUIFANG_VAR_DIR"], worker)
    os.makedirs(os.environ["HUIFANG_VAR_DIR"], exist_ok=True)
# Playwright's sync API runs an event loop in the test thread; the tests' own ORM calls there
# are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Production hashing is slow on purpose (hundreds of milliseconds a password); the suite makes
# staff accounts in most tests and never guards a real password.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Runs after pytest-django has set Django up (its own ``pytest_configure``)."""
    from django.test.utils import override_settings

    # Enabled for the whole run and never disabled; setting_changed clears the hasher caches.
    override_settings(PASSWORD_HASHERS=FAST_HASHERS).enable()
