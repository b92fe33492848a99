"""Quiet hours and excluded days, judged in the customer's own time zone.

``next_allowed`` answers the contact-pressure gate's timing question: given the moment a
message would go out, when is the first moment at or after it that is outside the customer's
quiet hours (21:00–08:00 by default, and windows that wrap midnight or not) and, when the rule
asks for business days, on a working day of the calendar. Time zones with daylight saving time
are handled by working in local wall-clock time and converting back through ``zoneinfo``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_START = time(21, 0)
DEFAULT_END = time(8, 0)


@dataclass(frozen=True)
class QuietHours:
    start: time = DEFAULT_START
    end: time = DEFAULT_END

    @classmethod
    def parse(cls, start: str, end: str) -> QuietHours:
        return cls(time.fromisoformat(start), time.fromisoformat(end))

    @property
    def wraps_midnight(self) -> bool:
        return self.start > self.end

    def contains(self, moment: time) -> bool:
        if self.start == self.end:
            return False  # an empty window: never quiet
        if self.wraps_midnight:
            return moment >= self.start or moment < self.end
        return self.start <= moment < self.end

    def end_after(self, local: datetime) -> datetime:
        """The wall-clock end of the quiet period ``local`` is in."""
        day = local.date()
        if self.wraps_midnight and local.time() >= self.start:
            day += timedelta(days=1)
        return _local(day, self.end, local.tzinfo)


def _local(day: date, at: time, zone: object) -> datetime:
    return datetime.combine(day, at).replace(tzinfo=zone)  # type: ignore[arg-type]


def _first_instant_at(wall: datetime) -> datetime:
    """The first instant (UTC) whose wall-clock time in ``wall``'s zone is at or after ``wall``.

    Usually ``wall`` itself; when ``wall`` falls in a daylight-saving gap (02:30 on the night
    clocks jump from 02:00 to 03:00) it does not exist, and the answer is the jump.
    """
    instant = wall.astimezone(UTC)
    naive = wall.replace(tzinfo=None)
    if instant.astimezone(wall.tzinfo).replace(tzinfo=None) == naive:
        return instant
    # In a gap: fold=1 reads the wall time with the offset after the jump, which lands before
    # it; walk forward minute by minute (a gap is at most a few hours) to the jump.
    candidate = wall.replace(fold=1).astimezone(UTC)
    while candidate.astimezone(wall.tzinfo).replace(tzinfo=None) < naive:
        candidate += timedelta(minutes=1)
    return min(candidate, instant)


def next_allowed(
    moment: datetime,
    zone: ZoneInfo,
    quiet: QuietHours,
    *,
    working_day: Callable[[date], bool] | None = None,
) -> datetime:
    """The first moment at or after ``moment`` (UTC) that is allowed in ``zone``, in UTC."""
    candidate = moment.astimezone(UTC)
    for _step in range(800):  # each step moves forward to a boundary; a year is ~730 of them
        local = candidate.astimezone(zone)
        if working_day is not None and not working_day(local.date()):
            candidate = _local(local.date() + timedelta(days=1), time(0), zone).astimezone(UTC)
            continue
        if quiet.contains(local.time()):
            end = _first_instant_at(quiet.end_after(local))
            # A wall-clock end that falls in a DST gap converts to an instant that can sit
            # before "now"; never move backwards.
            candidate = max(end, candidate + timedelta(minutes=1))
            continue
        return candidate
    raise ValueError(f"no allowed moment within a year after {moment}")
