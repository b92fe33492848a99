"""Statements built through the ORM once and re-used with fresh parameters.

Enrolling one just-ingested event in an event rule is one small ``INSERT … SELECT``; building
it through the ORM (the trigger's conditions, the audience, the "not already enrolled" clause)
costs several times what the database spends running it, for every rule, for every event; so
does recomputing the customer's derived figures. Such a statement's text depends only on what
it is for (a rule version, the event types) and the number of ids; its parameters on the moment
(horizons, "within the last N days", the start time) and the ids.

So the statement is built twice, at two moments far apart and with two sets of stand-in ids,
and each parameter is classified by comparing the two: the same in both is a constant; moved
by exactly the distance between the moments is "the moment plus a fixed offset"; a stand-in id
is filled with the real one. If the texts differ, or any parameter changes in another way
(a date, a month, anything derived from the moment other than by a fixed offset), the
statement is not re-used: it is built through the ORM every time, as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection

# Far apart, and moving every unit (days to microseconds), so that a value truncated to any
# unit, or computed in a local zone across a daylight-saving change, does not move with them.
_PROBES = (
    timedelta(days=1, hours=1, minutes=1, seconds=1, microseconds=1),
    timedelta(days=400, hours=7, minutes=13, seconds=7, microseconds=3),
)

Build = Callable[[datetime, Sequence[int]], tuple[str, Sequence[Any]] | None]


@dataclass(frozen=True)
class Template:
    sql: str
    # ("const", value) | ("time", offset from the moment) | ("text", offset) | ("id", index)
    slots: tuple[tuple[str, Any], ...]

    def params(self, now: datetime, ids: Sequence[int]) -> list[Any]:
        values: list[Any] = []
        for kind, value in self.slots:
            if kind == "const":
                values.append(value)
            elif kind == "time":
                values.append(now + value)
            elif kind == "text":
                values.append(connection.ops.adapt_datetimefield_value(now + value))
            else:
                values.append(ids[value])
        return values


_templates: dict[tuple[Any, ...], Template | None] = {}


def comparable(value: Any) -> Any:
    """A parameter as a value that compares by content: the PostgreSQL backend wraps JSON in
    adapter objects that compare by identity."""
    wrapped = getattr(value, "obj", None)
    if wrapped is not None and type(value).__name__ in {"Json", "Jsonb"}:
        return (type(value).__name__, json.dumps(wrapped, sort_keys=True, default=str))
    return value


def _as_time(value: Any) -> datetime | None:
    """A parameter as a point in time (aware ones in UTC: Python subtracts two datetimes of
    one zone by their wall clocks)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value
    if isinstance(value, str) and len(value) >= 19:  # SQLite's adapted datetimes
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _learn(build: Build, now: datetime, count: int) -> Template | None:
    stand_ins = [[-(n + 1) - 1_000_000 * k for n in range(count)] for k in range(3)]
    built = [build(now, stand_ins[0])] + [
        build(now + probe, stand_ins[k + 1]) for k, probe in enumerate(_PROBES)
    ]
    if any(b is None for b in built):
        return None
    texts = {b[0] for b in built if b is not None}
    params = [list(b[1]) for b in built if b is not None]
    if len(texts) != 1 or len({len(p) for p in params}) != 1:
        return None
    slots: list[tuple[str, Any]] = []
    naive_now = now.astimezone(UTC).replace(tzinfo=None)
    for values in zip(*params, strict=True):
        first = values[0]
        if all(comparable(v) == comparable(first) and type(v) is type(first) for v in values):
            slots.append(("const", first))
            continue
        ids = [stand_ins[k].index(v) if v in stand_ins[k] else None for k, v in enumerate(values)]
        if ids[0] is not None and ids.count(ids[0]) == len(ids):
            slots.append(("id", ids[0]))
            continue
        times = [_as_time(v) for v in values]
        base = times[0]
        if base is not None and all(
            t is not None and t - base == probe for t, probe in zip(times[1:], _PROBES, strict=True)
        ):
            if isinstance(first, datetime):
                slots.append(("time", base - now))
            else:  # SQLite: naive UTC text
                slots.append(("text", base - naive_now))
            continue
        return None  # derived from the moment in some other way: build it every time
    return Template(texts.pop(), tuple(slots))


def compiled(
    key: tuple[Any, ...], build: Build, now: datetime, ids: Sequence[int]
) -> tuple[str, Sequence[Any]] | None:
    """The statement ``build(now, ids)`` would return, from the template of ``key``.

    ``ids`` is a set of ids (the ORM drops repeated ones from ``IN`` lists).
    """
    ids = list(dict.fromkeys(ids))
    full = (connection.vendor, *key, len(ids))
    if full not in _templates:
        _templates[full] = _learn(build, now, len(ids))
    template = _templates[full]
    if template is None:
        return build(now, ids)
    return template.sql, template.params(now, ids)


def forget() -> None:
    """Drop every template (a rule version was saved: its id may now mean other content)."""
    _templates.clear()
