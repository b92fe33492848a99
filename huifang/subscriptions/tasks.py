"""The delivery log's upkeep, run by the worker started with ``--scheduler``. (Deliveries
themselves are sent by every worker's own loop, ``delivery.loop``: Huey's periodic tasks
have one-minute granularity, and a retry is due to the second.)"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from .models import Delivery

KEEP = timedelta(days=90)  # delivered and given-up deliveries stay in the log this long


def purge_old(*, keep: timedelta = KEEP) -> int:
    """Delete finished deliveries older than ``keep``; returns how many. Idempotent."""
    finished = (Delivery.Status.DELIVERED, Delivery.Status.GIVEN_UP)
    old = Delivery.objects.filter(status__in=finished, created_at__lt=timezone.now() - keep)
    count, _by_model = old.delete()
    return count


@db_periodic_task(crontab(hour="19", minute="55"))  # 03:55 in China; Huey runs in UTC
def purge_delivery_log() -> int:
    return purge_old()
