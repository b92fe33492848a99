"""Whatever the name, phone and e-mail, and wherever they were written — the profile, a
contact point, a message's text, a reply, a task's title and notes, a staff notification —
after the erasure no text or JSON column of any table holds them, while a namesake's own
record (another customer whose name contains theirs) is left as it was."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.accounts.services import notify
from huifang.customers.models import ContactPoint, Customer
from huifang.messaging.inbound import record_reply
from huifang.messaging.models import Message
from huifang.privacy.erasure import erase
from huifang.tasks.models import Task

from .test_rights import holding

pytestmark = pytest.mark.django_db

SURNAMES = "赵钱孙李周吴郑冯陈褚卫蒋沈韩杨朱秦尤许何吕施孔曹严华金魏陶姜欧阳司马上官"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红"
names = st.one_of(
    st.builds(
        lambda s, g: s + g,
        st.text(SURNAMES, min_size=1, max_size=2),
        st.text(GIVEN, min_size=1, max_size=2),
    ),
    st.from_regex(r"[A-Z][a-z]{2,8} [A-Z][a-z]{2,8}", fullmatch=True),
)
phones = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
mailboxes = st.from_regex(r"[a-z]{3,10}(\.[a-z]{2,6})?", fullmatch=True)
numbers = itertools.count(1)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=names, national=phones, mailbox=mailboxes)
def test_no_column_holds_them_after_the_erasure(
    name: str, national: str, mailbox: str, alice: Any, bob: Any
) -> None:
    # Each example in a transaction of its own, rolled back: the next one starts from an
    # empty database (one example's namesake is not another's leftover).
    with transaction.atomic():
        n = next(numbers)
        phone, email = f"+86{national}", f"{mailbox}{n}@example.cn"
        now = timezone.now()
        customer = Customer.objects.create(
            name=name, phone=phone, email=email, external_id=f"P-{n}", note=f"{name}的备注"
        )
        ContactPoint.objects.create(customer=customer, kind="email", value=f"alt{n}.{email}")
        message = Message.objects.create(
            customer=customer,
            channel="sms",
            template="hello",
            status="sent",
            body=f"{name}您好，您的号码 {national}",
            planned_at=now,
            created_at=now,
            sent_at=now,
        )
        record_reply(customer, "sms", f"我是{name}，邮箱 {email}", message_id=message.pk, now=now)
        task = Task.objects.create(
            customer=customer,
            title=f"回访 {name}",
            notes=f"打 {national} 找 {name}",
            created_at=now,
        )
        notify(user=bob, title=f"新任务：回访 {name}", url=f"/tasks/{task.pk}/")
        namesake = Customer.objects.create(name=f"{name}{n}号")

        erase(customer, actor=alice, reason="property test")

        terms = (name, phone, national, email)
        # The namesake's own name holds theirs: nothing else may.
        found = [h for h in holding(terms) if h[:2] != ("customers.Customer", namesake.pk)]
        assert found == []
        namesake.refresh_from_db()
        assert namesake.name == f"{name}{n}号"
        transaction.set_rollback(True)
