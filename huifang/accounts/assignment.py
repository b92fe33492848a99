"""The ways a team can hand out its follow-up tasks, by name.

A team, a rule's task step and the admin choose among the names registered here. The
strategies themselves (how each one picks an agent) live in ``huifang.tasks.assignment``, which
registers them when the tasks app is ready; a new strategy is one registration there.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.utils.functional import Promise

from huifang.core.registry import Registry


class Named(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def label(self) -> str | Promise: ...


strategies: Registry[Any] = Registry("assignment strategies")


def strategy_choices() -> list[tuple[str, str]]:
    return [(entry.key, str(entry.label)) for entry in strategies]
