"""Seeds a database with due steps for the multi-process tests: ``python -m tests.engine.crowd``.

Run in a child process against the database named by DATABASE_URL (not the test database of
pytest-django), so real worker processes can share it.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta

import django


def seed(count: int) -> None:
    from django.db import transaction

    from huifang.core.clock import DatabaseClock
    from huifang.customers.models import Consent, Customer
    from huifang.engine.lifecycle import activate
    from huifang.engine.models import DueStep, Enrollment
    from huifang.rules.document import parse_rule
    from huifang.rules.services import save_rule

    from .world import with_texts

    now = DatabaseClock().now()
    document = parse_rule(
        {
            "key": "crowd",
            "name": "crowd",
            "trigger": {"kind": "event", "event": "purchase"},
            # An empty quiet window and no caps: every step sends as soon as it is processed.
            "policy": {"quiet_hours": {"start": "00:00", "end": "00:00"}},
            "steps": [{"id": "only", "send": {"channel": "sms", "template": "t"}}],
        }
    )
    with transaction.atomic():
        saved = save_rule(with_texts(document))
        activate(saved.rule, saved.version)
        customers = Customer.objects.bulk_create(
            Customer(name=f"c{n}", phone=f"+8613900{n:06d}") for n in range(count)
        )
        Consent.objects.bulk_create(
            Consent(customer=c, channel="sms", status="granted", recorded_at=now, method="import")
            for c in customers
        )
        enrollments = Enrollment.objects.bulk_create(
            Enrollment(
                rule=saved.rule,
                version=saved.version,
                customer=c,
                anchor="seed",
                anchor_at=now,
                step="only",
                started_at=now,
            )
            for c in customers
        )
        DueStep.objects.bulk_create(
            DueStep(enrollment=e, step="only", due_at=now - timedelta(seconds=1))
            for e in enrollments
        )


def check() -> dict[str, object]:
    from django.db.models import Count, Max, Sum

    from huifang.engine.models import DueStep
    from huifang.messaging.models import Message

    steps = dict(DueStep.objects.values_list("status").annotate(n=Count("id")))
    per_enrollment = (
        Message.objects.values("enrollment_id").annotate(n=Count("id")).aggregate(m=Max("n"))["m"]
    )
    return {
        "steps": steps,
        "claims": DueStep.objects.aggregate(s=Sum("claims"))["s"],
        # Released by the gate (queued for the dispatcher, which these workers do not run).
        "messages": Message.objects.filter(status__in=Message.COUNTED).count(),
        "most_messages_per_enrollment": per_enrollment,
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huifang.settings")
    django.setup()
    if sys.argv[1] == "seed":
        seed(int(sys.argv[2]))
    else:
        print(json.dumps(check()))
