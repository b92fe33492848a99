"""Figures of the questionnaire results page: a missing figure is "—", never 0."""

from __future__ import annotations

from django import template
from django.utils.formats import number_format

register = template.Library()

NONE = "—"


@register.filter
def figure(value: float | None, places: int = 1) -> str:
    """``72.5``; "—" when there is nothing to count (no CSAT answer, no link sent)."""
    if value is None:
        return NONE
    return str(number_format(round(value, places), places))


@register.filter
def percent(value: float | None, places: int = 1) -> str:
    return NONE if value is None else f"{figure(value, places)} %"


@register.filter
def signed(value: float | None) -> str:
    """An NPS: ``+24.0``, ``-8.5``, ``0.0``."""
    if value is None:
        return NONE
    return ("+" if value > 0 else "") + figure(value)
