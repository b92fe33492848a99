"""Loaded by pytest before Django (``-p huifang.testing`` in pyproject.toml).

Sets the environment a test run needs before settings are read: test mode (static files served
by the finders), Huey tasks run inline, and a throw-away var/ directory so a test run never
touches the database or secret key of a platform running from the same checkout.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HUIFANG_TESTING", "1")
os.environ.setdefault("HUIFANG_HUEY_IMMEDIATE", "1")
os.environ.setdefault("HUIFANG_VAR_DIR", tempfile.mkdtemp(prefix="huifang-test-"))
# Playwright's sync API runs an event loop in the test thread; the tests' own ORM calls there
# are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
