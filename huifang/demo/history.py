"""The demo's follow-up history over the last ``DAYS`` days, so the cockpit has figures behind
every card: what the engine, the dispatcher and the task workflow would have written had the
ready strategies been running.

- Messages of the ready strategies' steps (rule, step, channel, template), sent through the log
  transport (a fresh installation has no provider, so ``provider`` stays empty): created →
  queued → sent → delivered in that order; some failed at the carrier, some dropped by the gate
  with its reason and decision, some held first (quiet hours, a day off) and sent later.
- Clicks on the links of some delivered messages.
- The customers' replies of the period (``message_replied`` events, already on their timelines)
  now name the message they answer, which is added just before each.
- Follow-up tasks of the strategies' call steps, closed over the period: done (reached, wrong
  number, refused) after not-reached attempts, on time or late against the SLA deadline the
  task service works out, started and closed by an agent of the team, with the task events the
  outcome form writes; some never reached after a few attempts and cancelled, a few cancelled
  before any call.
- Purchases after some of them (``PURCHASE_AFTER``): more often after a follow-up that reached
  the customer than after one that never did, so conversion after follow-up, its baseline and
  the uplift (docs/metrics.md §12) have figures; the customers' derived figures (orders,
  spend) are worked out again for those customers.
- The recent NPS detractors: a recovery call (``detractor-recovery``) opened for every other
  one, still open for the latest, done for the older; the rest still wait for a call.

The strategies stay drafts (as ``load_library`` leaves them): the history is what running them
would look like, and switching them on remains the owner's choice. The only events added are
those purchases (the replies' events only gain the message they name).
About ``MESSAGES_PER_CUSTOMER`` messages and ``TASKS_PER_CUSTOMER`` tasks a customer, bulk
written: well under a second for the default 2,000 customers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F

from huifang.accounts.models import StaffProfile, Team
from huifang.customers import derived
from huifang.customers.models import Customer, Event
from huifang.messaging.models import Click, Message, Reason
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.rules.document import Duration
from huifang.rules.models import Rule
from huifang.surveys.models import Response
from huifang.tasks import reminders
from huifang.tasks.models import Task, TaskEvent
from huifang.tasks.outcomes import DONE_OUTCOMES
from huifang.tasks.services import Opening, open_tasks, sla_duration, working_time

DAYS = 90
MESSAGES_PER_CUSTOMER = 0.5
TASKS_PER_CUSTOMER = 0.1
REPLIED = "message_replied"
RECOVERY = ("detractor-recovery", "call")
DETRACTOR_DAYS = 30  # the detractors of these last days get (half of them) a recovery call
RECOVERY_OPEN = timedelta(days=7)  # a recovery call opened since is still open
# The chance of a purchase within PURCHASE_DAYS after a follow-up that reached the customer,
# and after one closed without reaching them (the conversion baseline's pool).
PURCHASE_AFTER = {Task.Outcome.REACHED: 0.25, Task.Outcome.NOT_REACHED: 0.08, "": 0.08}
PURCHASE_DAYS = 25
NEVER_REACHED = 0.25  # called a few times without an answer, then cancelled
# What a purchase after a follow-up is, per business line: (product, category, low, high).
BOUGHT: dict[str, tuple[tuple[str, str, int, int], ...]] = {
    "零售电商": (("空气净化器", "家电", 1299, 3999), ("电动牙刷", "个护", 199, 699)),
    "企业服务": (("专业版", "续费", 12800, 12800), ("增购席位", "订阅", 3600, 9600)),
    "口腔诊所": (("洗牙", "诊疗", 298, 598), ("牙齿美白", "诊疗", 1500, 3800)),
}
SHOP = "https://shop.demo.huifang.local"

# (rule key, step, channel or None for the customer's own, template, text, link)
SENDS: dict[str, list[tuple[str, str, str | None, str, str, str]]] = {
    "零售电商": [
        ("retail-after-purchase", "first", "sms", "purchase-3d",
         "{name}您好，您购买的商品用得怎么样？回复 1 满意，2 需要帮助。", ""),
        ("retail-after-purchase", "second", "sms", "purchase-3d-again",
         "{name}您好，再次打扰：商品使用中有任何问题都可以回复我们。", ""),
        ("retail-delivery-check", "ask", None, "delivery-3d",
         "{name}您好，您的订单已签收，包装和配送还满意吗？", ""),
        ("retail-related-products", "recommend", "sms", "related-30d",
         "{name}您好，为您挑选了几件搭配好物：", f"{SHOP}/picks"),
        ("retail-review-invite", "invite", None, "review-7d",
         "{name}您好，邀请您为最近购买的商品写一条评价：", f"{SHOP}/review"),
        ("dormant-reactivation", "offer", None, "reactivation-offer",
         "{name}您好，好久不见，送您一张回归优惠券：", f"{SHOP}/coupon"),
    ],
    "企业服务": [
        ("saas-onboarding", "email", "email", "onboarding-7d",
         "{name}您好，开通一周了，这份上手指南也许有用：", f"{SHOP}/guide"),
        ("saas-renewal", "notice", "email", "renewal-90d",
         "{name}您好，您的服务将在 90 天后到期，续费详情见：", f"{SHOP}/renew"),
        ("vip-monthly", "email", "email", "vip-monthly",
         "{name}您好，本月的会员专属内容已更新：", f"{SHOP}/vip"),
    ],
    "口腔诊所": [
        ("clinic-aftercare", "day3", None, "aftercare-3d",
         "{name}您好，治疗后三天，牙齿是否还有不适？有问题请随时联系我们。", ""),
        ("clinic-aftercare", "day7", None, "aftercare-7d",
         "{name}您好，治疗后一周的护理要点请查看：", f"{SHOP}/care"),
        ("dormant-reactivation", "offer", None, "reactivation-offer",
         "{name}您好，距上次检查已有一段时间，预约洁牙请点：", f"{SHOP}/book"),
    ],
}  # fmt: skip
# (rule key, step, title) of the call steps whose tasks the history closes, per business line.
CALLS: dict[str, list[tuple[str, str, str]]] = {
    "零售电商": [
        ("retail-after-purchase", "manual", "电话回访 {name}"),
        ("complaint-urgent-call", "call", "投诉回访 {name}"),
        ("vip-monthly", "call", "VIP 关怀 {name}"),
    ],
    "企业服务": [
        ("saas-renewal", "owner", "续约沟通 {name}"),
        ("saas-onboarding", "call", "上手回访 {name}"),
    ],
    "口腔诊所": [
        ("complaint-urgent-call", "call", "投诉回访 {name}"),
        ("beauty-aftercare", "call", "术后关怀 {name}"),
    ],
}
NOTES: dict[str, tuple[str, ...]] = {
    Task.Outcome.REACHED: ("客户表示满意", "已解决客户疑问", "客户提出改进建议，已记录"),
    Task.Outcome.NOT_REACHED: ("无人接听", "占线", "关机"),
    Task.Outcome.WRONG_NUMBER: ("号码不是本人",),
    Task.Outcome.REFUSED: ("客户表示不需要再回访",),
}
# The gate's reasons for a drop and for a hold, as it writes them.
DROPS = (Reason.NO_CONSENT, Reason.CAP, Reason.DO_NOT_CONTACT, Reason.NO_ADDRESS, Reason.MISSED)
HOLDS = (Reason.QUIET_HOURS, Reason.DAY_OFF, Reason.CAP)


@dataclass
class History:
    messages: int = 0
    clicks: int = 0
    replies: int = 0
    tasks: int = 0
    recovery: int = 0
    purchases: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass
class _Person:
    pk: int
    name: str
    email: str
    line: str
    team_id: int | None
    owner_id: int | None
    dnc: bool


def write_demo_history(seed: int, now: datetime, customers: int) -> History:
    """The follow-up history of the demo customers of ``seed``; the same seed gives the same
    history."""
    rng = random.Random(f"{seed}:history")
    done = History()
    rules = dict(Rule.objects.values_list("key", "id"))
    people = _people(f"DEMO{seed}-")
    if not people:
        return done
    by_line: dict[str, list[_Person]] = {}
    for person in people:
        by_line.setdefault(person.line, []).append(person)
    with transaction.atomic():
        _messages(rng, now, customers, rules, by_line, done)
        _replies(rng, now, rules, {p.pk: p for p in people}, done)
        aside = random.Random(f"{seed}:conversion")
        _tasks(rng, aside, now, customers, rules, by_line, done)
        _recovery(rng, now, rules, {p.pk: p for p in people}, done)
    return done


def _people(prefix: str) -> list[_Person]:
    rows = (
        Customer.objects.filter(external_id__startswith=prefix)
        .order_by("pk")
        .values_list(
            "pk", "name", "email", "business_line", "owner__staff_profile__team_id", "owner_id",
            "do_not_contact",
        )
    )  # fmt: skip
    return [_Person(*row) for row in rows]


def _moment(rng: random.Random, now: datetime, days: float, at_least: float = 0.0) -> datetime:
    """A working-hours moment between ``days`` and ``at_least`` days ago."""
    day = now - timedelta(days=rng.uniform(at_least, days))
    return day.replace(hour=rng.randint(9, 19), minute=rng.randint(0, 59), second=0) - (
        timedelta(days=1) if day.replace(hour=19) > now else timedelta(0)
    )


def _channel(rng: random.Random, wanted: str | None, person: _Person) -> str:
    if wanted == "email" or (wanted is None and person.email and rng.random() < 0.3):
        return "email" if person.email else "sms"
    if wanted is None and rng.random() < 0.3:
        return "wecom"
    return "sms"


def _message(
    rng: random.Random,
    person: _Person,
    send: tuple[str, str, str | None, str, str, str],
    rules: dict[str, int],
    created: datetime,
    now: datetime,
    status: str,
) -> Message:
    """One message of a strategy step, its times in the order the engine and dispatcher set
    them, ending in ``status`` (delivered, sent, failed, dropped)."""
    key, step, wanted, template, text, link = send
    channel = _channel(rng, wanted, person)
    message = Message(
        customer_id=person.pk,
        rule_id=rules.get(key),
        step=step,
        channel=channel,
        channels=[channel],
        template=template,
        planned_at=created,
        created_at=created,
        transport="log",
        body=text.format(name=person.name) + (f" {link}" if link else ""),
        subject="回访" if channel == "email" else "",
        links=[link] if link else [],
    )
    decisions: list[dict[str, Any]] = []
    if status == Message.Status.DROPPED:
        reason = Reason.DO_NOT_CONTACT if person.dnc else rng.choice(DROPS)
        message.status, message.reason = Message.Status.DROPPED, reason
        message.decisions = [{"at": created.isoformat(), "action": "drop", "reason": reason}]
        return message
    released = created + timedelta(minutes=rng.randint(0, 3))
    if rng.random() < 0.12:  # held by the gate first, released later
        reason = rng.choice(HOLDS)
        until = created + timedelta(hours=rng.choice((1, 10, 14, 38)))
        decisions.append(
            {
                "at": created.isoformat(),
                "action": "defer",
                "reason": reason,
                "until": until.isoformat(),
            }
        )
        message.holds = 1
        released = min(until, now - timedelta(minutes=5))
    decisions.append({"at": released.isoformat(), "action": "send", "channel": channel})
    message.decisions = decisions
    message.queued_at = message.ready_at = released
    message.attempts = 1
    message.sent_at = released + timedelta(seconds=rng.randint(2, 40))
    if status == Message.Status.FAILED:
        message.status = Message.Status.FAILED
        message.error = rng.choice(("号码为空号", "用户拒收", "mailbox unavailable"))
    elif status == Message.Status.DELIVERED and channel != "email":
        message.status = Message.Status.DELIVERED
        message.delivered_at = message.sent_at + timedelta(seconds=rng.randint(3, 90))
    else:  # an e-mail has no delivery receipt
        message.status = Message.Status.SENT
    return message


def _status(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.07:
        return Message.Status.DROPPED
    if roll < 0.11:
        return Message.Status.FAILED
    return Message.Status.DELIVERED


def _messages(
    rng: random.Random,
    now: datetime,
    customers: int,
    rules: dict[str, int],
    by_line: dict[str, list[_Person]],
    done: History,
) -> None:
    lines = [line for line in by_line if line in SENDS]
    if not lines:
        return
    made: list[Message] = []
    for _ in range(round(customers * MESSAGES_PER_CUSTOMER)):
        line = rng.choice(lines)
        person = rng.choice(by_line[line])
        created = _moment(rng, now, DAYS, 0.2)
        made.append(
            _message(rng, person, rng.choice(SENDS[line]), rules, created, now, _status(rng))
        )
    Message.objects.bulk_create(made, batch_size=500)
    clicks: list[Click] = []
    for message in made:
        if not message.links or message.sent_at is None or message.status == "failed":
            continue
        if rng.random() < 0.22:
            for number in range(rng.choice((1, 1, 1, 2))):
                at = message.sent_at + timedelta(minutes=rng.randint(1, 60 * 24) * (number + 1))
                if at < now:
                    clicks.append(
                        Click(message=message, index=0, url=message.links[0], clicked_at=at)
                    )
    Click.objects.bulk_create(clicks, batch_size=500)
    done.messages += len(made)
    done.clicks += len(clicks)


def _replies(
    rng: random.Random,
    now: datetime,
    rules: dict[str, int],
    people: dict[int, _Person],
    done: History,
) -> None:
    """The period's replies name the message they answer: one sent a little before each."""
    events = list(
        Event.objects.filter(
            type=REPLIED, customer_id__in=list(people), occurred_at__gte=now - timedelta(days=DAYS)
        ).order_by("pk")
    )
    pairs: list[tuple[Event, Message]] = []
    for event in events:
        person = people[event.customer_id]
        sends = SENDS.get(person.line)
        if not sends:
            continue
        channel = str(event.properties.get("channel") or "sms")
        fitting = [s for s in sends if s[2] in (None, channel)] or sends
        created = event.occurred_at - timedelta(minutes=rng.randint(10, 36 * 60))
        message = _message(rng, person, rng.choice(fitting), rules, created, now, "delivered")
        if message.channel != channel and channel in ("sms", "email", "wecom"):
            message.channel, message.channels = channel, [channel]
            if channel != "email":
                message.status = Message.Status.DELIVERED
                message.delivered_at = (message.sent_at or created) + timedelta(seconds=30)
            else:
                message.status, message.delivered_at = Message.Status.SENT, None
        message.sent_at = min(message.sent_at or created, event.occurred_at)
        pairs.append((event, message))
    Message.objects.bulk_create([m for _e, m in pairs], batch_size=500)
    for event, message in pairs:
        event.properties = {**event.properties, "message": message.pk}
    Event.objects.bulk_update([e for e, _m in pairs], ["properties"], batch_size=500)
    done.messages += len(pairs)
    done.replies += len(pairs)


def _agents() -> dict[int, list[Any]]:
    """Each team's agents (users), in a stable order."""
    found: dict[int, list[Any]] = {}
    for profile in (
        StaffProfile.objects.filter(team__isnull=False, user__groups__name="agent")
        .select_related("user")
        .order_by("user_id")
    ):
        found.setdefault(profile.team_id or 0, []).append(profile.user)
    return found


def _sla(rule_id: int | None, step: str) -> tuple[Duration | None, str]:
    """The SLA and priority the strategy's step gives its task."""
    rule = Rule.objects.filter(pk=rule_id).first() if rule_id else None
    version = (rule.current_version if rule else None) or (
        rule.versions.order_by("-pk").first() if rule else None
    )
    content = getattr(version, "content", None) or {}
    for one in content.get("steps", ()):
        if one.get("id") == step and one.get("task"):
            task = one["task"]
            sla = Duration.model_validate(task["sla"]) if task.get("sla") else None
            return sla, task.get("priority") or Task.Priority.NORMAL
    return None, Task.Priority.NORMAL


def _tasks(
    rng: random.Random,
    aside: random.Random,
    now: datetime,
    customers: int,
    rules: dict[str, int],
    by_line: dict[str, list[_Person]],
    done: History,
) -> None:
    teams = Team.objects.in_bulk()
    agents = _agents()
    lines = [line for line in by_line if line in CALLS]
    if not teams or not agents or not lines:
        return
    fallback = next(iter(agents))
    calendar = BusinessCalendar.load()
    slas: dict[tuple[str, str], tuple[Duration | None, str]] = {}
    tasks: list[Task] = []
    trail: list[list[tuple[str, datetime, Any, dict[str, Any]]]] = []
    for _ in range(round(customers * TASKS_PER_CUSTOMER)):
        line = rng.choice(lines)
        person = rng.choice(by_line[line])
        key, step, title = rng.choice(CALLS[line])
        if (key, step) not in slas:
            slas[key, step] = _sla(rules.get(key), step)
        sla, priority = slas[key, step]
        team_id = person.team_id if person.team_id in agents else fallback
        team = teams.get(team_id)
        agent = person.owner_id if person.team_id == team_id and person.owner_id else None
        assignee = next((a for a in agents[team_id] if a.pk == agent), None) or rng.choice(
            agents[team_id]
        )
        created = _moment(rng, now, DAYS, 2)
        work = working_time(team, calendar)
        due = work.add(created, sla_duration(sla) if sla else timedelta(hours=24))
        task = Task(
            customer_id=person.pk,
            rule_id=rules.get(key),
            step=step,
            team=team,
            title=title.format(name=person.name),
            priority=priority,
            assignee=assignee,
            assign_strategy="owner" if agent else "round_robin",
            assigned_at=created,
            created_at=created,
            due_at=due,
        )
        events: list[tuple[str, datetime, Any, dict[str, Any]]] = [
            (TaskEvent.Kind.CREATED, created, None, {}),
            (TaskEvent.Kind.ASSIGNED, created, None, {"to": assignee.pk}),
        ]
        # Late for about one in six: closed after the deadline, else before it.
        late = rng.random() < 0.17
        span = max((due - created).total_seconds(), 3600.0)
        closing = created + timedelta(
            seconds=span * (rng.uniform(1.05, 2.0) if late else rng.uniform(0.1, 0.95))
        )
        closing = min(closing, now - timedelta(hours=1))
        started = closing - timedelta(seconds=rng.randint(120, 1500))
        attempts = 0
        if rng.random() < 0.3:  # not reached first, called again later
            first = max(
                created + timedelta(minutes=5), started - timedelta(minutes=rng.randint(30, 180))
            )
            started = min(first, started)
            events.append(_outcome(rng, Task.Outcome.NOT_REACHED, started, assignee))
            attempts += 1
        roll = rng.random()
        outcome = (
            Task.Outcome.WRONG_NUMBER
            if roll < 0.04
            else Task.Outcome.REFUSED
            if roll < 0.07
            else Task.Outcome.REACHED
        )
        if rng.random() < 0.04:  # cancelled by a supervisor instead
            task.status, task.closed_at = Task.Status.CANCELLED, closing
            events.append((TaskEvent.Kind.CANCELLED, closing, None, {"reason": "客户已另行处理"}))
        else:
            assert outcome in DONE_OUTCOMES
            score = rng.choice((3, 4, 4, 5, 5, 5)) if outcome == Task.Outcome.REACHED else None
            task.status, task.outcome, task.closed_at = Task.Status.DONE, outcome, closing
            task.started_at, task.score = started, score
            task.notes = rng.choice(NOTES[outcome])
            events.append(_outcome(rng, outcome, closing, assignee, score, task.notes))
            attempts += 1
        task.attempts = attempts
        # Some of those reached never were: drawn aside, so the rest of the history stays.
        if task.outcome == Task.Outcome.REACHED and aside.random() < NEVER_REACHED:
            del events[2:]  # created and assigned only
            _never_reached(aside, task, events, started, closing, assignee)
        tasks.append(task)
        trail.append(events)
    Task.objects.bulk_create(tasks, batch_size=500)
    _purchases(aside, now, tasks, {p.pk: p for line in lines for p in by_line[line]}, done)
    TaskEvent.objects.bulk_create(
        [
            TaskEvent(task=task, kind=kind, at=at, actor=actor, data=data)
            for task, events in zip(tasks, trail, strict=True)
            for kind, at, actor, data in events
        ],
        batch_size=500,
    )
    done.tasks += len(tasks)


def _never_reached(
    rng: random.Random,
    task: Task,
    events: list[tuple[str, datetime, Any, dict[str, Any]]],
    started: datetime,
    closing: datetime,
    assignee: Any,
) -> None:
    """Called one to three times without an answer, then cancelled by the supervisor."""
    calls = rng.randint(1, 3)
    for number in range(calls):
        at = started + (closing - started) * number / calls
        events.append(_outcome(rng, Task.Outcome.NOT_REACHED, at, assignee))
    task.status, task.outcome, task.closed_at = (
        Task.Status.CANCELLED,
        Task.Outcome.NOT_REACHED,
        closing,
    )
    task.started_at, task.attempts, task.score, task.notes = started, calls, None, ""
    events.append((TaskEvent.Kind.CANCELLED, closing, None, {"reason": "多次未接通，停止回访"}))


def _purchases(
    rng: random.Random,
    now: datetime,
    tasks: list[Task],
    people: dict[int, _Person],
    done: History,
) -> None:
    """A purchase within ``PURCHASE_DAYS`` after some of the closed follow-ups (more after a
    reached customer), then the customers' derived figures again."""
    events: list[Event] = []
    for task in tasks:
        chance = PURCHASE_AFTER.get(task.outcome)
        if chance is None or task.closed_at is None or rng.random() >= chance:
            continue
        at = task.closed_at + timedelta(days=rng.triangular(0.5, PURCHASE_DAYS, 2))  # soon, mostly
        if at >= now:
            continue
        product, category, low, high = rng.choice(BOUGHT[people[task.customer_id].line])
        amount = low + 10 * rng.randint(0, (high - low) // 10)
        properties = {
            "order_id": f"FU{task.customer_id:07d}{len(events):05d}",
            "amount": amount,
            "product": product,
            "category": category,
        }
        events.append(
            Event(
                customer_id=task.customer_id,
                type="purchase",
                occurred_at=at,
                properties=properties,
                amount=amount,
                source=Event.Source.DEMO,
            )
        )
    Event.objects.bulk_create(events, batch_size=500)
    # Received when they happened, as the loaded events are (``received_at`` is auto_now_add).
    Event.objects.filter(pk__in=[e.pk for e in events]).update(received_at=F("occurred_at"))
    derived.refresh({e.customer_id for e in events}, now=now)
    done.purchases += len(events)


def _outcome(
    rng: random.Random,
    outcome: str,
    at: datetime,
    actor: Any,
    score: int | None = None,
    notes: str | None = None,
) -> tuple[str, datetime, Any, dict[str, Any]]:
    """The task event the outcome form writes (``tasks.outcomes.record``)."""
    return (
        TaskEvent.Kind.OUTCOME,
        at,
        actor,
        {
            "outcome": outcome,
            "score": score,
            "notes": notes if notes is not None else rng.choice(NOTES[outcome]),
            "tags": [],
            "call_back_at": None,
            "actions": [],
        },
    )


def _recovery(
    rng: random.Random,
    now: datetime,
    rules: dict[str, int],
    people: dict[int, _Person],
    done: History,
) -> None:
    """A recovery call for every other recent detractor, the newest first: opened through the
    task service (its SLA deadline and assignment) a few hours after the answer; still open
    for the last week's, done for the older ones."""
    key, step = RECOVERY
    rule_id = rules.get(key)
    if rule_id is None:
        return
    sla, priority = _sla(rule_id, step)
    answers = Response.objects.filter(
        submitted_at__gte=now - timedelta(days=DETRACTOR_DAYS),
        submitted_at__lte=now,
        nps__lte=6,
        customer_id__in=list(people),
    ).order_by("-submitted_at", "-pk")
    teams = Team.objects.in_bulk()
    fallback = next(iter(teams.values()), None)
    openings: list[Opening] = []
    for number, answer in enumerate(answers):
        if number % 2:
            continue  # still waiting for a call
        person = people[answer.customer_id or 0]
        assert answer.submitted_at is not None
        created = min(answer.submitted_at + timedelta(hours=rng.randint(1, 6)), now)
        task = Task(
            customer_id=person.pk,
            rule_id=rule_id,
            step=step,
            kind=Task.Kind.REMEDIATION,
            team=teams.get(person.team_id or 0) or fallback,
            title=f"差评挽回 {person.name}",
            priority=priority,
            created_at=created,
        )
        openings.append(Opening(task, sla=sla_duration(sla) if sla else None))
    # Opened by the real service, at the moment of the newest (assignment reads open loads).
    opened = open_tasks(openings, now=now)
    closed: list[Task] = []
    outcomes: list[TaskEvent] = []
    for task in opened:
        if now - task.created_at < RECOVERY_OPEN or task.assignee_id is None:
            continue  # still open: the cockpit lists the detractor with this call
        task.assigned_at = task.created_at
        task.status, task.outcome = Task.Status.DONE, Task.Outcome.REACHED
        task.started_at = task.created_at + timedelta(hours=rng.randint(1, 8))
        task.closed_at = task.started_at + timedelta(minutes=rng.randint(4, 20))
        task.attempts, task.notes = 1, rng.choice(NOTES[Task.Outcome.REACHED])
        closed.append(task)
        kind, at, actor, data = _outcome(rng, task.outcome, task.closed_at, task.assignee, None)
        outcomes.append(TaskEvent(task=task, kind=kind, at=at, actor=actor, data=data))
    Task.objects.bulk_update(
        closed,
        ["assigned_at", "status", "outcome", "started_at", "closed_at", "attempts", "notes"],
    )
    for task in closed:  # the service assigned it (and said so) when it was opened
        TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.ASSIGNED).update(at=task.created_at)
    TaskEvent.objects.bulk_create(outcomes)
    reminders.replan(closed, now=now)  # a done task has no reminder left
    done.recovery += len(opened)
    done.tasks += len(opened)
