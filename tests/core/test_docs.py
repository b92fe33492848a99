"""Docs move with code: every environment variable Huifang reads is in the README table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READ = re.compile(r"""(?:env_\w+|os\.environ\.get|os\.environ\.setdefault)\(\s*["']([A-Z_]+)["']""")


def variables_read() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "huifang").rglob("*.py"):
        found |= set(READ.findall(path.read_text(encoding="utf-8")))
    # Set for (or by) the test run, not by whoever runs Huifang.
    return found - {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "PYTEST_XDIST_WORKER"}


def test_every_variable_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = {m for m in re.findall(r"^\| `([A-Z_]+)`", readme, re.M)}
    table |= {m for m in re.findall(r"^\| `[A-Z_]+` / `([A-Z_]+)`", readme, re.M)}
    missing = variables_read() - table
    assert not missing, f"add these to the README configuration table: {sorted(missing)}"
    assert "SECRET_KEY" in variables_read()


def test_the_readme_shows_both_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
    assert "快速开始" in readme and "Quick start" in readme
