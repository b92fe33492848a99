"""Clocks: the database's for judging what is due, a virtual one for simulation and tests.

Several workers on several machines must agree on "now", so due work is judged against the
database clock rather than each machine's own (DESIGN invariant 5). ``huifang simulate`` and the
tests move a ``VirtualClock`` instead, so the same engine code runs on any time line.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Protocol

from django.db import connection


class Clock(Protocol):
    def now(self) -> datetime: ...


class DatabaseClock:
    """The database server's current time, in UTC (not the transaction's start time)."""

    def now(self) -> datetime:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT clock_timestamp()")
                value = cursor.fetchone()[0]
                return value.astimezone(UTC)
            cursor.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
            text = cursor.fetchone()[0]
        return datetime.fromisoformat(text).replace(tzinfo=UTC)


class VirtualClock:
    """A clock that stands still until it is moved."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a virtual clock needs an aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, by: timedelta) -> datetime:
        if by < timedelta(0):
            raise ValueError("time does not run backwards")
        self._now += by
        return self._now

    def set(self, moment: datetime) -> datetime:
        moment = moment.astimezone(UTC)
        if moment < self._now:
            raise ValueError("time does not run backwards")
        self._now = moment
        return self._now


def worker_name() -> str:
    """This process, as leases and claim tokens name it: host and pid."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"
