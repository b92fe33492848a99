"""``huifang check`` (Django's system checks): what an installation should not run with."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.compatibility)
def base_url_set(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Without ``BASE_URL`` the links in messages start with the address confirmed on the
    channels page, or with ``http://localhost:8000``, which customers cannot open."""
    if settings.HUIFANG_BASE_URL_SET:
        return []
    return [
        checks.Warning(
            "BASE_URL is not set: short, unsubscribe, questionnaire and receipt links in "
            "messages use the public address confirmed on the channels page, or "
            f"{settings.HUIFANG_BASE_URL}, which customers cannot open.",
            hint="Set BASE_URL to the address customers reach this installation at, "
            "e.g. https://huifang.example.com.",
            id="huifang.W001",
        )
    ]
