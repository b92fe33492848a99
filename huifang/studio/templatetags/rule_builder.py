"""Inputs named after document paths, and the problems shown next to them."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()


def _path(path: str, suffix: str) -> str:
    return f"{path}.{suffix}" if path and suffix else path or suffix


@register.simple_tag
def fid(path: str, suffix: str = "") -> str:
    """The id of the input for ``path`` (stable across re-renders, so focus survives)."""
    return "f-" + _path(path, suffix).replace(".", "-")


@register.simple_tag
def invalid(errors: dict[str, list[str]], path: str, suffix: str = "") -> str:
    return " is-invalid" if errors.get(_path(path, suffix)) else ""


@register.simple_tag
def field_errors(errors: dict[str, list[str]], path: str, suffix: str = "") -> SafeString:
    full = _path(path, suffix)
    found: list[Any] = errors.get(full) or []
    if not found:
        return SafeString("")
    return format_html(
        '<div class="invalid-feedback d-block" data-error-for="{}">{}</div>',
        full,
        format_html_join(" ", "<span>{}</span>", ((m,) for m in found)),
    )


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    """``errors|get_item:path``: the problems at a path built in the template."""
    return mapping.get(key) if isinstance(mapping, dict) else None
