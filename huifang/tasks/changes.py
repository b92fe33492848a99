"""What happened to follow-up tasks, told to the apps above that react to it (event
subscriptions): ``happened(kind, tasks, now)``, called by the service that made the change,
inside its transaction, once the rows are written.

``CREATED``: tasks opened (by a rule or by hand); ``ASSIGNED``: tasks given to a person (by a
strategy, by hand, or reassigned); ``COMPLETED``: a task closed as done by its outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from huifang.core.hooks import Hook

from .models import Task

CREATED, ASSIGNED, COMPLETED = "created", "assigned", "completed"

# listener(kind, tasks, now)
happened: Hook[Callable[[str, Sequence[Task], datetime], object]] = Hook("tasks changed")
