"""Small display helpers for Huifang's templates."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def staff_name(user: Any) -> str:
    """How a member of staff is called on screen: the profile's display name (姓名 order for
    Chinese names), else the full name, else the username."""
    if user is None:
        return ""
    profile = getattr(user, "staff_profile", None)
    if profile is not None and profile.display_name:
        return str(profile.display_name)
    return str(user.get_full_name() or user.get_username())
