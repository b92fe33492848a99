"""``huifang subscriptions list | deliver --once``."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from huifang.customers.models import Customer
from huifang.tasks.services import create_tasks

from .conftest import subscribe
from .receiver import inbox

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("subscriptions", *args, stdout=out)
    return out.getvalue()


def test_deliver_once_then_list(receiver: str, bob: Any, customer: Customer) -> None:
    subscribe(receiver, "task.created")
    create_tasks([customer], title="回访", actor=bob, team=None)
    assert "pending 1" in run("list")
    assert run("deliver", "--once").strip() == "1 deliveries handled"
    assert inbox.events() == ["task.created"]
    listed = run("list")
    assert "订单系统\tactive" in listed and "delivered 1" in listed
