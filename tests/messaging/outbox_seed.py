"""Seed and inspect a database for the dispatcher process tests (run as a script, like
``tests/engine/crowd.py``): queued SMS messages to customers who consented, one webhook
provider pointing at the test's local receiver."""

from __future__ import annotations

import json
import os
import sys

import django


def seed(count: int, url: str) -> None:
    from django.db import transaction

    from huifang.core.clock import DatabaseClock
    from huifang.customers.models import Consent, Customer
    from huifang.integrations.models import Provider
    from huifang.messaging.models import Message
    from huifang.messaging.services import save_template

    now = DatabaseClock().now()
    with transaction.atomic():
        save_template("t", "sms", name="t", body="{{客户姓名}}您好")
        provider = Provider(name="gateway", kind="webhook", channel="sms")
        provider.set_settings({"url": url, "secret": "0123456789abcdef-secret"})
        provider.save()
        customers = Customer.objects.bulk_create(
            Customer(name=f"c{n}", phone=f"+8613900{n:06d}") for n in range(count)
        )
        Consent.objects.bulk_create(
            Consent(customer=c, channel="sms", status="granted", recorded_at=now, method="import")
            for c in customers
        )
        Message.objects.bulk_create(
            Message(
                customer=c,
                channel="sms",
                channels=["sms"],
                template="t",
                status="queued",
                planned_at=now,
                queued_at=now,
                ready_at=now,
                created_at=now,
            )
            for c in customers
        )


def check() -> dict[str, object]:
    from django.db.models import Count

    from huifang.messaging.models import Attempt, Message

    return {
        "statuses": dict(Message.objects.values_list("status").annotate(n=Count("id"))),
        "attempts": dict(Attempt.objects.values_list("outcome").annotate(n=Count("id"))),
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huifang.settings")
    django.setup()
    if sys.argv[1] == "seed":
        seed(int(sys.argv[2]), sys.argv[3])
    else:
        print(json.dumps(check()))
