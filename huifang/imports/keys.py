"""The match keys an import has met, and where each went: a million rows' phones and e-mail
addresses in a few tens of megabytes.

A Python dict of two million keys takes over 200 MB; here each key is a 64-bit hash held in
sorted numpy arrays (one per chunk, merged as they pile up), with a 64-bit value beside it.
A key keeps the value it was first given, as the first row of a file with that key is the one
later rows merge into.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

MERGE_AT = 8  # arrays kept before they are merged into one


def digest(key: tuple[str, Any]) -> int:
    """A stable 64-bit hash of ``(field, value)`` (Python's ``hash`` changes per process)."""
    text = f"{key[0]}\x00{key[1]}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little", signed=True)


class KeyIndex:
    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []
        self._values: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(len(k) for k in self._keys)

    def find(self, keys: Sequence[int]) -> dict[int, int]:
        """The value of each of ``keys`` that is known."""
        if not keys or not self._keys:
            return {}
        wanted = np.asarray(keys, dtype=np.int64)
        found: dict[int, int] = {}
        for stored, values in zip(self._keys, self._values, strict=True):
            at = np.searchsorted(stored, wanted)
            at[at == len(stored)] = 0
            hit = stored[at] == wanted
            for key, value in zip(wanted[hit].tolist(), values[at[hit]].tolist(), strict=True):
                found.setdefault(key, value)  # the older array first: the first value wins
        return found

    def add(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Give keys their values; a key known already keeps its own."""
        items = dict(reversed(list(pairs)))  # the first value given in ``pairs`` wins
        known = self.find(list(items))
        new = [(k, v) for k, v in items.items() if k not in known]
        if not new:
            return
        keys = np.fromiter((k for k, _v in new), dtype=np.int64, count=len(new))
        values = np.fromiter((v for _k, v in new), dtype=np.int64, count=len(new))
        order = np.argsort(keys, kind="stable")
        self._keys.append(keys[order])
        self._values.append(values[order])
        if len(self._keys) >= MERGE_AT:
            self._merge()

    def _merge(self) -> None:
        # No key is in two arrays (``add`` leaves out the known ones): a plain sort merges.
        keys = np.concatenate(self._keys)
        values = np.concatenate(self._values)
        order = np.argsort(keys, kind="stable")
        self._keys, self._values = [keys[order]], [values[order]]
