"""Hooks: where a lower app lets the apps above it act, without importing them.

Dependencies point one way (docs/architecture.md): customers never import the engine. Where a
lower app must still have something done by a higher one — an event was recorded, consent was
withdrawn, an agent asked for a rule to start — it offers a ``Hook`` and calls it; the higher
app connects its function once, in its ``AppConfig.ready()``. A hook is called explicitly by
the one service that owns the side effect, in the caller's transaction (not a Django signal).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Hook(Generic[F]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._functions: list[F] = []

    def connect(self, function: F) -> F:
        """Connect ``function`` (once, however often asked); functions run in the order they
        were connected, which is the order of INSTALLED_APPS."""
        if function not in self._functions:
            self._functions.append(function)
        return function

    def __iter__(self) -> Iterator[F]:
        return iter(list(self._functions))

    def __len__(self) -> int:
        return len(self._functions)

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        for function in self:
            function(*args, **kwargs)


T = TypeVar("T")


class Port(Generic[T]):
    """Where a lower app needs exactly one implementation from a higher one (integrations
    parse a provider's push; messaging, above them, applies it to its messages)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._implementation: T | None = None

    def provide(self, implementation: T) -> T:
        self._implementation = implementation
        return implementation

    def __call__(self) -> T:
        if self._implementation is None:
            raise RuntimeError(f"nothing provides {self.name}: is its app installed?")
        return self._implementation
