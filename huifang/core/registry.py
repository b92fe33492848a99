"""A small registry: named entries registered at start-up, looked up by key.

Used for event types, and later for trigger kinds, step actions, channels and assignment
strategies, so adding a kind means adding one registration, never another ``elif``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar


class Keyed(Protocol):
    @property
    def key(self) -> str: ...


T = TypeVar("T", bound=Keyed)


class Registry(Generic[T]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: dict[str, T] = {}

    def register(self, entry: T) -> T:
        if entry.key in self._entries:
            raise ValueError(f"{self.name}: {entry.key!r} is already registered")
        self._entries[entry.key] = entry
        return entry

    def get(self, key: str) -> T | None:
        return self._entries.get(key)

    def __getitem__(self, key: str) -> T:
        return self._entries[key]

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(self._entries.values())

    def keys(self) -> list[str]:
        return list(self._entries)
