"""Periodic upkeep of the sources' log (run by the worker with --scheduler)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from .services import purge_log


@db_periodic_task(crontab(minute="23"))
def purge_received() -> int:
    return purge_log()
