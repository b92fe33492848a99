"""Periodic upkeep of customer figures (run by the worker with --scheduler)."""

from __future__ import annotations

from django.db import connection
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from huifang.api.idempotency import purge_expired

from . import derived
from .models import Customer


@db_periodic_task(crontab(hour="19", minute="15"))  # 03:15 in China; Huey runs in UTC
def refresh_rolling_spend() -> int:
    """Purchases and survey answers leave the 12-month window with no event to trigger a
    refresh."""
    return derived.refresh_rolling_spend()


@db_periodic_task(crontab(minute="7"))
def purge_idempotency_keys() -> int:
    return purge_expired()


@db_periodic_task(crontab(minute="37"))
def refresh_planner_statistics() -> None:
    planner_statistics()


def planner_statistics() -> None:
    """SQLite: sample the customer tables for the query planner (``ANALYZE``, under a second at
    a million customers).

    Without statistics SQLite takes the index on tier for a selective one, and counts "VIP or
    regular, with tag X" by reading 660,000 of a million rows one by one (about 4 s) instead of
    the 77,000 tagged customers (about 0.6 s; ``bench/audience.py``). PostgreSQL's autovacuum
    keeps its own statistics."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA analysis_limit=1000")  # a sample per index is enough
        for model in (Customer, Customer.tags.through):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
