"""Both catalogs are complete and the committed .mo files match the .po files."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.utils import translation

LOCALE = Path(__file__).resolve().parents[2] / "huifang" / "locale"
ENTRY = re.compile(r'^msgid "(.+?)"$\n(?:msgid_plural .*\n)?^msgstr(?:\[0\])? "(.*)"$', re.M)


@pytest.mark.parametrize("language", ["zh_Hans", "en"])
def test_every_string_is_translated(language: str) -> None:
    po = (LOCALE / language / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    assert "#, fuzzy" not in po
    entries = ENTRY.findall(po)
    assert len(entries) > 250
    empty = [msgid for msgid, msgstr in entries if not msgstr]
    assert not empty, f"untranslated in {language}: {empty[:10]}"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext is not installed")
@pytest.mark.parametrize("language", ["zh_Hans", "en"])
def test_the_compiled_catalog_is_current(language: str, tmp_path: Path) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(fresh), str(folder / "django.po")], check=True)
    assert catalog(fresh) == catalog(folder / "django.mo"), "run: huifang compilemessages"


def catalog(path: Path) -> dict[str, str]:
    """The messages of a compiled catalog, as gettext read them."""
    with path.open("rb") as compiled:
        translations = gettext.GNUTranslations(compiled)
    # Set by GNUTranslations._parse at run time; typeshed does not declare the attribute.
    return translations._catalog  # type: ignore[attr-defined]


def test_the_interface_speaks_chinese() -> None:
    with translation.override("zh-hans"):
        assert translation.gettext("Customers") == "客户"
        assert translation.gettext("Do not contact") == "免打扰"


def test_amounts_are_grouped_by_thousands_in_both_languages() -> None:
    from django.template import Context, Template

    page = Template('{% load humanize %}¥{{ amount|floatformat:"2g" }} · {{ count|intcomma }}')
    for language in ("zh-hans", "en"):
        with translation.override(language):
            rendered = page.render(Context({"amount": 4707, "count": 12345}))
            assert rendered == "¥4,707.00 · 12,345", language
