"""The studio's work for a worker: the rules' periodic work, run by the one worker started
with ``--scheduler`` (Huey loads every app's ``tasks`` module), and the impact previews."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from huifang.core.clock import DatabaseClock
from huifang.rules.models import Rule, RuleVersion

from . import impact
from .models import Preview
from .sets import run_due_switches


@db_periodic_task(crontab(minute="*"))
def switch_strategy_sets() -> int:
    """Scheduled strategy-set switches whose time has come (judged by the database clock, as
    due steps are). Idempotent, so a second scheduler by mistake never switches twice."""
    return len(run_due_switches(DatabaseClock().now()))


@db_task()
def compute_preview(pk: int) -> None:
    impact.compute(pk)


def queue_preview(rule: Rule, version: RuleVersion, days: int, *, user: Any = None) -> Preview:
    """A new preview of ``version`` over ``days``, computed by a worker once the caller's
    transaction commits (at once where Huey runs tasks in the process, as in tests)."""
    preview = impact.queued(rule, version, days, user=user)
    transaction.on_commit(lambda: compute_preview(preview.pk))
    return preview
