"""The survey scores an event carries, read from its properties and checked against their scales.

A survey answer reports CSAT (``properties.csat``, or ``properties.score`` as before) on 1–5,
NPS (``properties.nps``) on 0–10 and CES (``properties.ces``) on 1–7. Each is copied into a
column of its own on ``Event`` so derived figures are computed in SQL, and kept apart so an NPS
of 9 is never read as a satisfaction of 9.
"""

from __future__ import annotations

import math
from typing import Any

from django.utils.translation import gettext as _

from huifang.core.scores import CES, CSAT, NPS, Scale

# Each score: its Event column, the properties that give it, and its scale.
SCORES: tuple[tuple[str, tuple[str, ...], Scale], ...] = (
    ("score", ("csat", "score"), CSAT),
    ("nps", ("nps",), NPS),
    ("ces", ("ces",), CES),
)
COLUMNS = tuple(column for column, _names, _scale in SCORES)


class ScoreInvalid(ValueError):
    """A score off its scale; ``field`` names the property (``properties.nps``)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def read_scores(properties: dict[str, Any]) -> dict[str, int | None]:
    """Each score column's value in ``properties`` (``None`` when not given); raises
    ``ScoreInvalid`` for a value off its scale, or a CSAT given twice with two values."""
    scores: dict[str, int | None] = {}
    for column, names, scale in SCORES:
        found = {
            value for name in names if (value := _on_scale(properties, name, scale)) is not None
        }
        if len(found) > 1:
            raise ScoreInvalid(
                _("properties.csat and properties.score differ; give one of them."),
                "properties.csat",
            )
        scores[column] = found.pop() if found else None
    return scores


def _on_scale(properties: dict[str, Any], name: str, scale: Scale) -> int | None:
    raw = properties.get(name)
    if raw is None:
        return None
    if (
        isinstance(raw, bool)
        or not isinstance(raw, int | float)
        or (isinstance(raw, float) and not math.isfinite(raw))
        or int(raw) != raw
        or not scale.includes(int(raw))
    ):
        raise ScoreInvalid(
            _("properties.%(name)s must be a whole number from %(low)s to %(high)s.")
            % {"name": name, "low": scale.low, "high": scale.high},
            f"properties.{name}",
        )
    return int(raw)
