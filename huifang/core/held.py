"""Values read once for a block in which they cannot change.

A simulation runs the engine over weeks of virtual time in one go: nobody edits the business
calendar, the staff or the rules on its clock, yet the engine's code reads them per batch and
per evaluation, as a live system must (there they do change). Within ``block()``, ``once``
reads each value the first time it is asked for and hands out that copy after; outside one,
it reads every time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_values: ContextVar[dict[Hashable, Any] | None] = ContextVar("huifang_held", default=None)


@contextmanager
def block() -> Iterator[None]:
    token = _values.set({})
    try:
        yield
    finally:
        _values.reset(token)


def once(key: Hashable, load: Callable[[], T]) -> T:
    """``load()``, read once per ``block()`` under ``key``; every time outside one."""
    values = _values.get()
    if values is None:
        return load()
    if key not in values:
        values[key] = load()
    return values[key]  # type: ignore[no-any-return]
