"""The rule dashboard (策略看板): per rule, for a chosen period, who entered, who is running and
who finished; the messages sent, delivered and replied to; the tasks open, done and overdue;
and the gate's deferrals and drops by reason.

Each figure counts what happened in the period (whole days in the organisation's zone) by its
own time, and every one of them is read from the daily rollups of ``huifang.analytics`` (kept
by the worker every minute, see docs/analytics.md), never from the outbox, the enrollments,
the events or the tasks:

- entered and finished, by how they ended: ``EnrollmentDay`` (``started_at``, ``ended_at``);
- sent, delivered, replied and tasks done: ``RuleStepDay`` (``sent_at``, ``delivered_at``,
  the day of a message's first answer naming it, ``closed_at``), a few rows per rule and day
  — the wide ``MessageDay`` / ``TaskDay`` hold a row per customer region, tier, team and
  agent too, far more to sum for a rule's month;
- the holds and drops by reason: ``DecisionDay``, every gate decision on the messages written
  in the period (``created_at``).

"Active" enrollments and "open" / "overdue" tasks are as of now, not history: they are counted
on the live tables, each by one statement that reads only the current rows through a partial
index (``enrollment_one_active``, ``task_assignee_open_idx``; measured in
``bench/rules_dashboard.py``).
The page costs the same five statements for one rule as for a hundred (docs/rules.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import BooleanField, Count, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huifang.analytics.models import DecisionDay, EnrollmentDay, RuleStepDay
from huifang.core.limits import EARLIEST_DAY, LATEST_DAY, day_in_range
from huifang.customers.event_types import event_types
from huifang.engine.models import Enrollment
from huifang.messaging.log import ACTIONS
from huifang.messaging.models import Reason
from huifang.organisation.zones import organisation_zone
from huifang.rules.models import Rule
from huifang.tasks.models import Task

from .access import readers

PERIODS: dict[str, Promise] = {  # and "custom": from / to
    "today": gettext_lazy("Today"),
    "7d": gettext_lazy("Last 7 days"),
    "30d": gettext_lazy("Last 30 days"),
}
DAYS = {"today": 1, "7d": 7, "30d": 30}
DEFAULT_PERIOD = "30d"
MAX_DAYS = 366
OPEN_TASK = (Task.Status.OPEN, Task.Status.IN_PROGRESS)
_OPEN_LITERALLY = RawSQL(  # noqa: S611 (the two status constants, no input)
    f"{Task._meta.db_table}.status IN ({', '.join(repr(str(s)) for s in OPEN_TASK)})",
    [],
    output_field=BooleanField(),
)

# Short labels for the badges; the title carries the gate's full wording (``Reason``).
HELD_LABELS: dict[str, Promise] = {
    Reason.QUIET_HOURS: gettext_lazy("Quiet hours"),
    Reason.DAY_OFF: gettext_lazy("Day off"),
    Reason.CAP: gettext_lazy("Frequency cap"),
    Reason.DO_NOT_CONTACT: gettext_lazy("Do not contact"),
    Reason.NO_CONSENT: gettext_lazy("No consent"),
    Reason.NO_ADDRESS: gettext_lazy("No address"),
    Reason.MAX_ATTEMPTS: gettext_lazy("Too many attempts"),
    Reason.MISSED: gettext_lazy("Too late"),
    Reason.ENDED: gettext_lazy("Plan ended"),
    Reason.UNSUBSCRIBED: gettext_lazy("Unsubscribed"),
    Reason.NO_TEMPLATE: gettext_lazy("No template"),
    Reason.RATE_LIMIT: gettext_lazy("Rate limit"),
    Reason.NO_SURVEY: gettext_lazy("No questionnaire"),
}
ENDING_LABELS: dict[str, Promise] = {
    "completed": gettext_lazy("All steps done"),
    "stopped": gettext_lazy("Stopped at a step"),
    "replied": gettext_lazy("Replied"),
    "step_removed": gettext_lazy("Step removed"),
    "version_changed": gettext_lazy("New version"),
    "archived": gettext_lazy("Rule archived"),
    "set_switched": gettext_lazy("Strategy set switched"),
}
ENDING_TONES: dict[str, str] = {
    Enrollment.Status.COMPLETED: "text-bg-success",
    Enrollment.Status.EXITED: "text-bg-info",
    Enrollment.Status.ENDED: "text-bg-secondary",
}


# -- the period ----------------------------------------------------------------------------------


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    """Whole days ``first`` … ``last`` in the organisation's zone, as ``[start, end)`` in UTC
    (a day with a change of offset is 23 or 25 hours long)."""

    key: str
    first: date
    last: date
    start: datetime
    end: datetime

    @classmethod
    def of_days(cls, key: str, first: date, last: date) -> Period:
        zone = organisation_zone()
        start = datetime.combine(first, time(0), tzinfo=zone)
        end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
        return cls(key, first, last, start.astimezone(UTC), end.astimezone(UTC))


def period_from(params: Mapping[str, str], now: datetime) -> Period:
    """The period a query string asks for: ``period=today|7d|30d``, or ``period=custom`` with
    ``from`` and ``to`` (YYYY-MM-DD, both days included). Raises ``PeriodError`` with a message
    for the user when the dates do not make a period."""
    key = params.get("period") or ("custom" if params.get("from") or params.get("to") else "")
    today = now.astimezone(organisation_zone()).date()
    if key in DAYS:
        return Period.of_days(key, today - timedelta(days=DAYS[key] - 1), today)
    if key != "custom":
        return Period.of_days(
            DEFAULT_PERIOD, today - timedelta(days=DAYS[DEFAULT_PERIOD] - 1), today
        )
    first, last = _day(params.get("from", "")), _day(params.get("to", ""))
    if first is None or last is None:
        raise PeriodError(_("Enter both dates as YYYY-MM-DD, for example 2026-09-28."))
    if not (day_in_range(first) and day_in_range(last)):
        raise PeriodError(
            _("Enter dates between %(first)s and %(last)s.")
            % {"first": EARLIEST_DAY.isoformat(), "last": LATEST_DAY.isoformat()}
        )
    if first > last:
        raise PeriodError(_("The first day is after the last day."))
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(_("A period is at most %(days)s days.") % {"days": MAX_DAYS})
    return Period.of_days("custom", first, last)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if len(text.strip()) == 10 else None
    except ValueError:
        return None


# -- the figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Badge:
    key: tuple[str, str]
    label: str
    title: str
    count: int
    tone: str
    icon: str = ""


@dataclass
class Figures:
    enrolled: int = 0
    active: int = 0
    finished: int = 0
    endings: list[Badge] = field(default_factory=list)
    sent: int = 0
    delivered: int = 0
    replied: int = 0
    tasks_open: int = 0
    tasks_done: int = 0
    tasks_overdue: int = 0
    held: list[Badge] = field(default_factory=list)


COUNTS = (
    "enrolled",
    "active",
    "finished",
    "sent",
    "delivered",
    "replied",
    "tasks_open",
    "tasks_done",
    "tasks_overdue",
)


def figures(rule_ids: Sequence[int], period: Period, now: datetime) -> dict[int, Figures]:
    """The figures of each rule in ``rule_ids``: five statements, whatever their number."""
    found = {pk: Figures() for pk in rule_ids}
    if not found:
        return found
    ids = list(found)
    days = {"rule_id__in": ids, "day__gte": period.first, "day__lte": period.last}
    for row in (
        EnrollmentDay.objects.filter(**days)
        .values("rule_id", "status", "reason")
        .annotate(entered=Sum("entered"), finished=Sum("finished"))
        .order_by()
    ):
        one = found[row["rule_id"]]
        one.enrolled += row["entered"]
        if row["finished"]:
            one.finished += row["finished"]
            one.endings.append(ending_badge(row["status"], row["reason"], row["finished"]))
    for one in found.values():
        one.endings.sort(key=lambda badge: (-badge.count, badge.label))
    active = Enrollment.objects.filter(rule_id__in=ids, status=Enrollment.Status.ACTIVE)
    _put(found, "active", _by_rule(active))
    for totals in (
        RuleStepDay.objects.filter(**days)
        .values("rule_id")
        .annotate(
            sent=Sum("sent"),
            delivered=Sum("delivered"),
            replied=Sum("replied"),
            tasks_done=Sum("tasks_done"),
        )
        .order_by()
    ):
        one = found[totals["rule_id"]]
        one.sent, one.delivered = totals["sent"], totals["delivered"]
        one.replied, one.tasks_done = totals["replied"], totals["tasks_done"]
    _held(found, days)
    open_tasks = (
        # The statuses as literals: SQLite uses the partial index ``task_rule_open_idx`` only
        # when the query states its condition word for word, not through bound parameters.
        Task.objects.filter(_OPEN_LITERALLY, rule_id__in=ids)
        .order_by()
        .values("rule_id")
        .annotate(n=Count("*"), late=Count("due_at", filter=Q(due_at__lt=now)))
    )
    for current in open_tasks:
        found[current["rule_id"]].tasks_open = current["n"]
        found[current["rule_id"]].tasks_overdue = current["late"]
    return found


def _by_rule(queryset: QuerySet[Any]) -> dict[int, int]:
    grouped = queryset.order_by().values("rule_id").annotate(n=Count("*"))
    return {row["rule_id"]: row["n"] for row in grouped}


def _put(found: dict[int, Figures], name: str, values: Mapping[int, int]) -> None:
    for rule_id, value in values.items():
        if rule_id in found:
            setattr(found[rule_id], name, value)


def ending_badge(status: str, reason: str, count: int) -> Badge:
    status_label = (
        str(Enrollment.Status(status).label) if status in Enrollment.Status.values else status
    )
    if reason.startswith("event:"):
        kind = reason.removeprefix("event:")
        entry = event_types.get(kind)
        label = _("Exit: %(event)s") % {"event": entry.label if entry else kind}
    else:
        label = str(ENDING_LABELS.get(reason, reason or status_label))
    return Badge(
        (status, reason), label, status_label, count, ENDING_TONES.get(status, "text-bg-light")
    )


def _held(found: dict[int, Figures], days: dict[str, Any]) -> None:
    """The gate's holds and drops of the messages written in the period, by rule, action and
    reason — every decision on such a message, whenever it was taken (the first is taken as
    the message is written, so nearly all fall in the period too)."""
    grouped = (
        DecisionDay.objects.filter(**days)
        .values("rule_id", "action", "reason")
        .annotate(n=Sum("decisions"))
        .order_by()
    )
    for row in grouped:
        found[row["rule_id"]].held.append(held_badge(row["action"], row["reason"], row["n"]))
    for one in found.values():
        one.held.sort(key=lambda badge: (badge.key[0] != "defer", -badge.count, badge.label))


def held_badge(action: str, reason: str, count: int) -> Badge:
    full = str(Reason(reason).label) if reason in Reason.values else reason
    label = str(HELD_LABELS.get(reason, reason or ACTIONS.get(action, action)))
    title = " · ".join(p for p in (str(ACTIONS.get(action, action)), full) if p)
    if action == "defer":
        return Badge((action, reason), label, title, count, "text-bg-warning", "pause-circle")
    return Badge((action, reason), label, title, count, "text-bg-danger", "x-circle")


def total(all_figures: Iterable[Figures]) -> Figures:
    """The sum of several rules' figures (the dashboard's last row)."""
    summed = Figures()
    endings: dict[tuple[str, str], Badge] = {}
    held: dict[tuple[str, str], Badge] = {}
    for one in all_figures:
        for name in COUNTS:
            setattr(summed, name, getattr(summed, name) + getattr(one, name))
        for badges, into in ((one.endings, endings), (one.held, held)):
            for badge in badges:
                known = into.get(badge.key)
                into[badge.key] = replace(badge, count=badge.count + (known.count if known else 0))
    summed.endings = sorted(endings.values(), key=lambda b: (-b.count, b.label))
    summed.held = sorted(held.values(), key=lambda b: (b.key[0] != "defer", -b.count, b.label))
    return summed


# -- the pages -----------------------------------------------------------------------------------


@readers
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    status = request.GET.get("status", "")
    if status not in Rule.Status.values:
        status = ""
    context: dict[str, Any] = {
        "statuses": _links(request, "status", [("", _("All")), *Rule.Status.choices], status),
        "status": status,
        "zone": str(settings.TIME_ZONE),
        "error": "",
        "rows": [],
        "total": None,
        "custom_from": request.GET.get("from", ""),  # as typed, when they are wrong
        "custom_to": request.GET.get("to", ""),
    }
    try:
        period = period_from(request.GET, now)
    except PeriodError as exc:
        context.update(error=str(exc), period=None, periods=_period_links(request, "custom"))
        return render(request, "studio/dashboard.html", context, status=400)
    rules = Rule.objects.order_by("status", "name")
    if status:
        rules = rules.filter(status=status)
    listed = list(rules.only("key", "name", "status"))
    found = figures([rule.pk for rule in listed], period, now)
    context.update(
        period=period,
        periods=_period_links(request, period.key),
        rows=[(rule, found[rule.pk]) for rule in listed],
        total=total(found.values()) if len(listed) > 1 else None,
        custom_from=period.first.isoformat(),
        custom_to=period.last.isoformat(),
    )
    return render(request, "studio/dashboard.html", context)


@readers
def rule_figures(request: HttpRequest, key: str) -> HttpResponse:
    """The rule page's card, fetched by htmx once the page has loaded: the last 30 days."""
    rule = get_object_or_404(Rule.objects.only("key", "name"), key=key)
    now = timezone.now()
    period = period_from({"period": "30d"}, now)
    context = {"rule": rule, "period": period, "figures": figures([rule.pk], period, now)[rule.pk]}
    return render(request, "studio/_figures.html", context)


def _links(
    request: HttpRequest, name: str, choices: Iterable[tuple[str, Any]], current: str
) -> list[dict[str, Any]]:
    links = []
    for value, label in choices:
        params = request.GET.copy()
        params.pop(name, None)
        if value:
            params[name] = value
        links.append(
            {"label": str(label), "url": f"?{params.urlencode()}", "active": value == current}
        )
    return links


def _period_links(request: HttpRequest, current: str) -> list[dict[str, Any]]:
    links = []
    status = request.GET.get("status", "")
    for key in PERIODS:
        params = {"period": key, **({"status": status} if status else {})}
        links.append(
            {"label": str(PERIODS[key]), "url": f"?{urlencode(params)}", "active": key == current}
        )
    return links
