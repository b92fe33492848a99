"""Periodic upkeep of customer figures (run by the worker with --scheduler)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from huifang.api.idempotency import purge_expired

from . import derived


@db_periodic_task(crontab(hour="19", minute="15"))  # 03:15 in China; Huey runs in UTC
def refresh_rolling_spend() -> int:
    """Purchases leave the 12-month window with no event to trigger a refresh."""
    return derived.refresh_rolling_spend()


@db_periodic_task(crontab(minute="7"))
def purge_idempotency_keys() -> int:
    return purge_expired()
