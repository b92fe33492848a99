"""What a simulation means for people: the follow-up tasks each team would get per day against
what its agents can take, and the customers the messages would press harder than a frequency
cap allows. Read inside the simulation's transaction, before it is rolled back."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from huifang.accounts.models import StaffProfile, Team
from huifang.accounts.roles import Role
from huifang.customers.models import Customer
from huifang.messaging.models import Message
from huifang.rules.models import Rule
from huifang.rules.plans import plan
from huifang.tasks.models import Task

TOP = 10


def team_load(
    task_marker: int, dates: Sequence[str], day_of: Callable[[datetime], str | None]
) -> list[dict[str, Any]]:
    """Per team that would get tasks (the ones without a team last): its tasks per day and its
    daily capacity, the sum of ``daily_capacity`` of its active agents not on leave that day."""
    counts: dict[int | None, Counter[str]] = defaultdict(Counter)
    for created, team_id in Task.objects.filter(pk__gt=task_marker).values_list(
        "created_at", "team_id"
    ):
        if (day := day_of(created)) is not None:
            counts[team_id][day] += 1
    teams = Team.objects.in_bulk([pk for pk in counts if pk is not None])
    agents: dict[int | None, list[StaffProfile]] = defaultdict(list)
    for profile in (
        StaffProfile.objects.filter(
            team_id__in=list(teams), user__is_active=True, user__groups__name=Role.AGENT
        )
        .distinct()
        .only("team_id", "daily_capacity", "on_leave", "leave_until")
    ):
        agents[profile.team_id].append(profile)
    order = sorted(counts, key=lambda pk: (pk is None, teams[pk].name if pk else ""))
    return [_team_days(teams.get(pk or 0), agents[pk], counts[pk], dates) for pk in order]


def _team_days(
    team: Team | None, agents: list[StaffProfile], per_day: Counter[str], dates: Sequence[str]
) -> dict[str, Any]:
    days = []
    for day in dates:
        capacity = _capacity(agents, date.fromisoformat(day)) if team else None
        tasks = per_day[day]
        over = capacity is not None and tasks > capacity
        days.append({"date": day, "tasks": tasks, "capacity": capacity, "over": over})
    return {
        "key": team.key if team else "",
        "name": team.name if team else "",
        "total": sum(per_day.values()),
        "days": days,
        "over": [d["date"] for d in days if d["over"]],
    }


def _capacity(profiles: Iterable[StaffProfile], day: date) -> int:
    return sum(
        profile.daily_capacity
        for profile in profiles
        if not (profile.on_leave and (profile.leave_until is None or profile.leave_until >= day))
    )


def caps_of(keys: Iterable[str]) -> list[dict[str, Any]]:
    """The caps the report judges by: those of the running rules, the organisation's defaults
    for a rule that sets none; each with the rules it applies to, tightest first."""
    found: dict[tuple[str, int, int, bool], list[str]] = defaultdict(list)
    for key, version_id in (
        Rule.objects.filter(key__in=list(keys), current_version__isnull=False)
        .order_by("key")
        .values_list("key", "current_version_id")
    ):
        running = plan(version_id)
        default = not running.document.policy.caps
        for cap in running.caps:
            found[(cap.channel, cap.max, cap.per_days, default)].append(key)
    caps = [
        {"channel": channel, "max": most, "per_days": days, "rules": rules, "default": default}
        for (channel, most, days, default), rules in found.items()
    ]
    return sorted(caps, key=lambda cap: (cap["max"] / cap["per_days"], cap["channel"]))


def over_cap(start: datetime, end: datetime, caps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The customers who would receive more messages than a cap allows.

    A customer is over a cap (``max`` per ``per_days``, on one channel or ``any``) when some
    rolling window of ``per_days`` days that ends at a message released inside the simulated
    period holds more than ``max`` of their messages on that channel. Messages count as the
    gate counts them: every message released to the customer (queued, sent, delivered or
    uncertain) by any rule, at the moment it was released, including the ones before the start
    that are still inside a window. Every cap of ``caps`` applies to every customer, whichever
    rule set it: the gate applies a rule's caps to that rule's messages only, so a looser rule
    writing to the customers of a tighter one shows here although the gate let it through.
    Listed by the excess over the cap, then the count: the ``TOP`` first, with the total.
    """
    if not caps:
        return {"count": 0, "customers": []}
    longest = timedelta(days=max(cap["per_days"] for cap in caps))
    released: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    for customer_id, channel, at in (
        Message.objects.filter(
            customer__isnull=False,
            status__in=Message.COUNTED,
            queued_at__gt=start - longest,
            queued_at__lt=end,
        )
        .order_by("queued_at", "id")
        .values_list("customer_id", "channel", "queued_at")
    ):
        if at is not None:
            released[customer_id].append((channel, at))
    worst: dict[int, tuple[int, int, dict[str, Any]]] = {}
    for customer_id, messages in released.items():
        for cap in caps:
            count = _busiest_window(messages, cap, start)
            excess = count - cap["max"]
            if excess > 0 and (customer_id not in worst or excess > worst[customer_id][0]):
                worst[customer_id] = (excess, count, cap)
    ranked = sorted(worst.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))[:TOP]
    names = dict(
        Customer.objects.filter(pk__in=[pk for pk, _w in ranked]).values_list("id", "name")
    )
    return {
        "count": len(worst),
        "customers": [
            {
                "id": pk,
                "name": names.get(pk, ""),
                "count": count,
                "cap": {k: cap[k] for k in ("channel", "max", "per_days")},
            }
            for pk, (_excess, count, cap) in ranked
        ],
    }


def _busiest_window(
    messages: Sequence[tuple[str, datetime]], cap: dict[str, Any], start: datetime
) -> int:
    """The most messages in one window ``(t - per_days, t]`` for t a release from ``start`` on
    (the gate's own window, open at its far end)."""
    window = timedelta(days=cap["per_days"])
    times = [at for channel, at in messages if cap["channel"] in ("any", channel)]
    busiest = first = 0
    for last, at in enumerate(times):
        while times[first] <= at - window:
            first += 1
        if at >= start:
            busiest = max(busiest, last - first + 1)
    return busiest
