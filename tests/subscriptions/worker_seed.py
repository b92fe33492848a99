"""Seed a database for the worker process test (run as a script, like
``tests/messaging/outbox_seed.py``): a subscription to ``task.completed`` at the test's local
receiver, and a task completed through the services, which queues its delivery."""

from __future__ import annotations

import os
import sys

import django


def seed(url: str, secret: str) -> None:
    from huifang.accounts.roles import Role
    from huifang.customers.models import Customer
    from huifang.subscriptions.models import Subscription
    from huifang.tasks import outcomes
    from huifang.tasks.services import create_tasks
    from tests.conftest import make_staff

    subscription = Subscription(name="订单系统", url=url, event_types=["task.completed"])
    subscription.set_secret(secret)
    subscription.save()
    bob = make_staff("bob", Role.AGENT)
    customer = Customer.objects.create(name="王小明", phone="+8613800138000")
    (task,) = create_tasks([customer], title="购后回访", actor=bob, team=None, assignee=bob)
    outcomes.record(task, outcomes.Report(outcome="reached", score=5), actor=bob)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huifang.settings")
    django.setup()
    seed(sys.argv[1], sys.argv[2])
