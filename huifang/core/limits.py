"""Bounds on what a request can make the server hold or store (DESIGN.md invariant 10).

Pure checks, shared by the request middleware (``huifang.api.requests``), the API's parser,
the provider callbacks and the customer and event services:

- ``load_json``: JSON as RFC 8259 has it — no ``NaN`` / ``Infinity`` (Python's ``json`` reads
  them, no database stores them), no deeper than ``HUIFANG_JSON_MAX_DEPTH``, no NUL character
  (PostgreSQL refuses ``\\u0000`` in text and ``jsonb``);
- ``check_data``: a customer's custom attributes or an event's properties within their size,
  key, depth and string limits;
- ``check_moment`` / ``check_day``: dates people and systems send, within years that every
  time zone and every delay can still be added to;
- ``small_id``: an id typed into a query string, or ``None`` when it is not one.

Every refusal is a ``Refusal`` with a message in the user's language that names the limit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Dates outside these are refused: the engine adds delays of up to ten years to them and shows
# them in every time zone, and Python's dates end at 9999-12-31.
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2199, 12, 31)
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# The largest value of a database id (a 64-bit signed integer).
MAX_ID = 2**63 - 1


class Refusal(ValueError):
    """Input refused for a limit; ``code`` for machines, ``message`` for people, ``status``
    the HTTP status that answers it (413 for a body over its size, 400 or 422 otherwise)."""

    def __init__(self, code: str, message: str, *, status: int = 422, path: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.path = code, message, status, path


def _refuse_constant(name: str) -> Any:
    raise Refusal(
        "invalid_json",
        _("%(value)s is not a number JSON allows; send a finite number or null.") % {"value": name},
        status=400,
    )


def load_json(raw: bytes | str, *, max_depth: int | None = None) -> Any:
    """Parse ``raw`` as strict JSON within the depth limit; raises ``Refusal`` (400)."""
    depth = settings.HUIFANG_JSON_MAX_DEPTH if max_depth is None else max_depth
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise Refusal(
            "invalid_json", _("The request body is not UTF-8 text."), status=400
        ) from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # the parser's own guard, far deeper than the limit
        raise _too_deep_refusal(depth) from None
    except ValueError as exc:
        if isinstance(exc, Refusal):
            raise
        raise Refusal(
            "invalid_json",
            _("The request body is not valid JSON: %(error)s") % {"error": exc},
            status=400,
        ) from None
    for item, level in _walk(value):
        if isinstance(item, dict | list) and level > depth:
            raise _too_deep_refusal(depth)
        if isinstance(item, str) and "\x00" in item:
            raise nul_refusal(status=400)
    return value


def _too_deep_refusal(depth: int) -> Refusal:
    return Refusal(
        "too_deep",
        _("JSON may nest at most %(limit)s levels deep.") % {"limit": depth},
        status=400,
    )


def _walk(value: Any, depth: int = 1) -> Iterator[tuple[Any, int]]:
    """Every value inside ``value`` (keys too), with its depth; iterative, never recursive."""
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        item, level = stack.pop()
        yield item, level
        if isinstance(item, dict):
            for key, child in item.items():
                yield key, level + 1
                stack.append((child, level + 1))
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)


def has_nul(value: Any) -> bool:
    """Whether any text inside ``value`` (keys too) holds a NUL character."""
    return any(isinstance(item, str) and "\x00" in item for item, _level in _walk(value))


def nul_refusal(*, status: int = 400, path: str = "") -> Refusal:
    return Refusal(
        "nul_character",
        _("Text may not contain the NUL character (U+0000)."),
        status=status,
        path=path,
    )


def check_text(value: str, *, path: str = "") -> None:
    """Refuse a NUL character in ``value`` (422)."""
    if "\x00" in value:
        raise nul_refusal(status=422, path=path)


def check_data(value: dict[str, Any], *, path: str) -> None:
    """Custom attributes or event properties (``path`` names which) within their limits:
    serialized size, top-level keys, nesting depth and the length of every string (keys too).
    Raises ``Refusal`` (422) naming the limit."""
    keys = settings.HUIFANG_DATA_MAX_KEYS
    if len(value) > keys:
        raise Refusal(
            "too_many_keys",
            _("%(field)s may have at most %(limit)s keys; this has %(count)s.")
            % {"field": path, "limit": keys, "count": len(value)},
            path=path,
        )
    depth, longest = settings.HUIFANG_DATA_MAX_DEPTH, settings.HUIFANG_DATA_MAX_STRING
    for item, level in _walk(value):
        if isinstance(item, dict | list) and level > depth:
            raise Refusal(
                "too_deep",
                _("%(field)s may nest at most %(limit)s levels deep.")
                % {"field": path, "limit": depth},
                path=path,
            )
        if isinstance(item, str):
            if len(item) > longest:
                raise Refusal(
                    "string_too_long",
                    _("Each text in %(field)s may have at most %(limit)s characters.")
                    % {"field": path, "limit": longest},
                    path=path,
                )
            if "\x00" in item:
                raise nul_refusal(status=422, path=path)
        elif isinstance(item, float) and not math.isfinite(item):
            raise Refusal(
                "invalid_number",
                _("%(field)s may hold only finite numbers.") % {"field": path},
                path=path,
            )
    # ``default=str``: imports and demo data may hold dates and decimals, stored as text.
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode())
    most = settings.HUIFANG_DATA_MAX_BYTES
    if size > most:
        raise Refusal(
            "too_large",
            _("%(field)s may take at most %(limit)s bytes as JSON; this takes %(size)s.")
            % {"field": path, "limit": most, "size": size},
            path=path,
        )


def check_moment(value: datetime, *, path: str) -> None:
    """A date and time between 1900 and 2199 (422 otherwise)."""
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        inside = _EARLIEST <= moment.astimezone(UTC) < _LATEST
    except OverflowError:
        inside = False
    if not inside:
        raise _range_refusal(path)


def validate_moment(value: datetime) -> None:
    """Form validator: ``check_moment`` as a ``ValidationError``."""
    try:
        check_moment(value, path="")
    except Refusal as refusal:
        raise ValidationError(refusal.message, code=refusal.code) from None


def validate_day(value: date) -> None:
    """Form validator: ``check_day`` as a ``ValidationError``."""
    try:
        check_day(value, path="")
    except Refusal as refusal:
        raise ValidationError(refusal.message, code=refusal.code) from None


def check_day(value: date, *, path: str) -> None:
    """A date between 1900-01-01 and 2199-12-31 (422 otherwise)."""
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise _range_refusal(path)


def day_in_range(value: date) -> bool:
    return EARLIEST_DAY <= value <= LATEST_DAY


def _range_refusal(path: str) -> Refusal:
    return Refusal(
        "date_out_of_range",
        _("Enter a date between %(first)s and %(last)s.")
        % {"first": EARLIEST_DAY.isoformat(), "last": LATEST_DAY.isoformat()},
        path=path,
    )


def small_id(text: object) -> int | None:
    """``text`` as a database id: ASCII digits up to the largest id, else ``None`` (so
    ``"²"`` or a 30-digit number in a query string is "no such row", never an error)."""
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
