"""Open follow-up tasks in the demo, so the workspace and the board have a day's work on them:
urgent calls for recent complaints, VIP care calls and post-purchase calls, opened over the last
few days (some are overdue already), assigned by each team's strategy."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.utils import timezone

from huifang.accounts.models import Team
from huifang.customers.models import Customer, Event, Tier
from huifang.tasks.models import Task
from huifang.tasks.services import Opening, open_tasks

TASKS = 60
KINDS = (
    (
        "complaint",
        "投诉回访 {name}",
        Task.Priority.URGENT,
        "您好{name}，关于您反馈的问题，我们想了解处理结果是否满意。",
    ),
    (
        "vip",
        "VIP 关怀 {name}",
        Task.Priority.HIGH,
        "您好{name}，感谢您一直以来的支持，想听听您最近的使用感受。",
    ),
    (
        "purchase",
        "购后回访 {name}",
        Task.Priority.NORMAL,
        "您好{name}，您最近购买的商品用得怎么样？",
    ),
)


def open_demo_tasks(seed: int, now: datetime) -> int:
    rng = random.Random(seed)
    teams = {team.pk: team for team in Team.objects.all()}
    if not teams:
        return 0
    fallback = next(iter(teams.values()))
    customers = list(
        # Nobody who asked not to be contacted is called.
        Customer.objects.filter(external_id__startswith=f"DEMO{seed}-", do_not_contact=False)
        .select_related("owner__staff_profile")
        .order_by("-complaint_count", "-spend_12m", "pk")[: TASKS * 3]
    )
    rng.shuffle(customers)
    chosen = customers[:TASKS]
    latest = _latest_events(chosen)
    openings = []
    for customer in chosen:
        if customer.complaint_count:
            kind = KINDS[0]
        elif customer.tier == Tier.VIP:
            kind = KINDS[1]
        else:
            kind = KINDS[2]
        key, title, priority, script = kind
        profile = getattr(customer.owner, "staff_profile", None) if customer.owner else None
        team = teams.get(profile.team_id) if profile and profile.team_id else fallback
        openings.append(
            Opening(
                Task(
                    customer=customer,
                    title=title.format(name=customer.name),
                    script=script.format(name=customer.name),
                    reason=_reason(key, customer, latest.get((customer.pk, key))),
                    priority=priority,
                    team=team,
                    created_at=now - timedelta(hours=rng.choice([1, 4, 20, 30, 60, 90, 150])),
                )
            )
        )
    return len(open_tasks(openings, now=now))


def _latest_events(customers: list[Customer]) -> dict[tuple[int, str], Event]:
    """Each customer's newest complaint and purchase, in one query."""
    found: dict[tuple[int, str], Event] = {}
    events = Event.objects.filter(
        customer__in=customers, type__in=("complaint", "purchase")
    ).order_by("-occurred_at", "-pk")
    for event in events:
        found.setdefault((event.customer_id, event.type), event)
    return found


def _reason(key: str, customer: Customer, event: Event | None) -> str:
    """Why the demo's task was opened, in words, as a person opening it would write it."""
    when = f"{timezone.localtime(event.occurred_at):%Y-%m-%d}" if event is not None else ""
    if key == "complaint" and event is not None:
        what = event.properties.get("reason") or "未写原因"
        return f"客户 {when} 投诉：{what}。回访确认问题是否已解决。"
    if key == "vip":
        return f"VIP 客户，近 12 个月消费 ¥{customer.spend_12m:,.0f}：每月一次关怀回访。"
    if event is not None:
        product = event.properties.get("product") or "商品"
        return f"客户 {when} 购买了 {product}：回访使用情况。"
    return "购后回访：了解使用情况。"
