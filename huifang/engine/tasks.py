"""The engine's periodic work, run by the one worker started with ``--scheduler``.

Each job is idempotent (trigger anchors are unique and the cursor moves forward), so a second
scheduler by mistake would waste work but never enroll anyone twice.
"""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from huifang.core.clock import DatabaseClock

from .triggers import evaluate_scheduled


@db_periodic_task(crontab(minute="*"))
def evaluate_triggers() -> dict[str, int]:
    """Date and recurring rules once a day (catching up missed days), segments every
    SEGMENT_EVALUATION_MINUTES."""
    return evaluate_scheduled(DatabaseClock().now())


@db_task()
def evaluate_now() -> dict[str, int]:
    """Right after a rule is activated, instead of at the next minute."""
    return evaluate_scheduled(DatabaseClock().now())
