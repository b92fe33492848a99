"""The key figures (关键指标) every report, export, scheduled e-mail and ``huifang analytics kpis``
prints: one place that turns rollup sums into KPIs, for a period, a reader's scope, optional
filters, and optionally broken down by a dimension or by the period's buckets.

The formulas are those of docs/metrics.md. Every figure is a sum over the daily rollups
(``models``), never a scan of the outbox, the tasks or the answers, so a year costs what a
month costs: one aggregate query per rollup table touched.

    totals(period, scope)                   one row: the whole period
    breakdown(period, scope, by="team")     one row per value of a dimension
    trend(period, scope)                    one row per bucket (day, week or month)

A rate with nothing to count is ``None`` (shown "—", never 0). A KPI that the reader's scope
cannot be narrowed to (message figures for an agent: a message has no agent) is ``None`` too,
and ``Kpi.available(scope)`` says so beforehand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import F, QuerySet, Sum
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huifang.accounts.models import StaffProfile, Team
from huifang.customers.models import Channel
from huifang.integrations.models import Provider
from huifang.rules.models import Rule

from .models import AnswerDay, MessageDay, TaskDay
from .periods import Period
from .scope import Scope

MESSAGES, TASKS, ANSWERS = "messages", "tasks", "answers"
ROLLUPS: dict[str, Any] = {MESSAGES: MessageDay, TASKS: TaskDay, ANSWERS: AnswerDay}


@dataclass(frozen=True)
class Dimension:
    key: str
    label: Promise
    # The rollup column of this dimension in each rollup table that has it.
    columns: Mapping[str, str]


DIMENSIONS: dict[str, Dimension] = {
    d.key: d
    for d in (
        Dimension("team", _("Team"), {MESSAGES: "team_id", TASKS: "team_id", ANSWERS: "team_id"}),
        Dimension("agent", _("Agent"), {TASKS: "assignee_id"}),
        Dimension("rule", _("Rule"), {MESSAGES: "rule_id", TASKS: "rule_id", ANSWERS: "rule_id"}),
        Dimension("step", _("Step"), {MESSAGES: "step", TASKS: "step"}),
        Dimension("channel", _("Channel"), {MESSAGES: "channel", ANSWERS: "channel"}),
        Dimension("provider", _("Provider"), {MESSAGES: "provider_id"}),
        Dimension("province", _("Province"), {MESSAGES: "province", ANSWERS: "province"}),
        Dimension("city", _("City"), {MESSAGES: "city", ANSWERS: "city"}),
        Dimension("business_line", _("Business line"), {MESSAGES: "business_line"}),
        Dimension("tier", _("Customer tier"), {MESSAGES: "tier"}),
    )
}
# How a reader's scope narrows each rollup: by team, and (agents) by agent.
_SCOPE_COLUMNS = {
    MESSAGES: {"team": "team_id"},
    TASKS: {"team": "team_id", "agent": "assignee_id"},
    ANSWERS: {"team": "team_id"},
}


@dataclass(frozen=True)
class Kpi:
    key: str
    label: Promise
    source: str  # the rollup it is computed from
    numerator: tuple[str, ...]  # measures summed (a difference for NPS: see ``value``)
    denominator: tuple[str, ...]
    unit: str = "rate"  # rate (%), score (NPS −100…100), average, seconds, count
    higher_is_better: bool = True
    help: Promise | str = ""

    def value(self, sums: Mapping[str, int]) -> float | None:
        if self.unit == "count":
            return float(sum(sums.get(m, 0) for m in self.numerator))
        below = sum(sums.get(m, 0) for m in self.denominator)
        if not below:
            return None
        if self.unit == "score":  # NPS: promoters − detractors, in points
            promoters, detractors = (sums.get(m, 0) for m in self.numerator)
            return 100.0 * (promoters - detractors) / below
        above = sum(sums.get(m, 0) for m in self.numerator)
        return (100.0 if self.unit == "rate" else 1.0) * above / below

    def available(self, scope: Scope) -> bool:
        return all(scope.covers(d) for d in ("team", "agent") if _needs(self.source, d, scope))


def _needs(source: str, dimension: str, scope: Scope) -> bool:
    """Whether narrowing ``source`` to ``scope`` needs the rollup to be kept by ``dimension``."""
    if scope.everything:
        return False
    wanted = "team" if scope.kind == "teams" else "agent"
    return dimension == wanted and wanted not in _SCOPE_COLUMNS[source]


KPIS: dict[str, Kpi] = {
    k.key: k
    for k in (
        Kpi("sent", _("Messages sent"), MESSAGES, ("sent",), (), unit="count"),
        Kpi(
            "delivery_rate", _("Delivery rate"), MESSAGES, ("delivered",), ("sent",),
            help=_("Delivered ÷ sent (channels with delivery receipts)."),
        ),
        Kpi(
            "failure_rate", _("Failure rate"), MESSAGES, ("failed",), ("created",),
            higher_is_better=False,
        ),
        Kpi("click_rate", _("Click rate"), MESSAGES, ("clicked",), ("sent",)),
        Kpi("reply_rate", _("Response rate"), MESSAGES, ("replied",), ("sent",)),
        Kpi(
            "drop_rate", _("Drop rate"), MESSAGES, ("dropped",), ("created",),
            higher_is_better=False,
        ),
        Kpi(
            "held_share", _("Held share"), MESSAGES, ("held",), ("created",),
            higher_is_better=False,
        ),
        Kpi("tasks_opened", _("Follow-up tasks"), TASKS, ("opened",), (), unit="count"),
        Kpi("completion_rate", _("Follow-up completion rate"), TASKS, ("done",), ("opened",)),
        Kpi("on_time_rate", _("On-time rate"), TASKS, ("on_time",), ("with_due",)),
        Kpi("contact_rate", _("Contact success rate"), TASKS, ("reached",), ("done",)),
        Kpi(
            "handling_time", _("Average handling time"), TASKS, ("handling_seconds",),
            ("handled",), unit="seconds", higher_is_better=False,
        ),
        Kpi("answered", _("Questionnaires answered"), ANSWERS, ("answered",), (), unit="count"),
        Kpi("csat", _("CSAT"), ANSWERS, ("csat_ok",), ("csat_n",)),
        Kpi("nps", _("NPS"), ANSWERS, ("promoters", "detractors"), ("nps_n",), unit="score"),
        Kpi("ces", _("CES"), ANSWERS, ("ces_sum",), ("ces_n",), unit="average"),
    )
}  # fmt: skip


@dataclass
class Row:
    """The figures of one row of a report: ``key`` is the dimension's value (an id, a code),
    the bucket's first day for a trend, ``None`` for the totals."""

    key: Any
    label: str
    sums: dict[str, int] = field(default_factory=dict)  # "messages.sent" → 123
    values: dict[str, float | None] = field(default_factory=dict)


def _filtered(
    source: str, period: Period, scope: Scope, filters: Mapping[str, Any]
) -> QuerySet[Any] | None:
    """The rollup rows of ``source`` in the period, the scope and the filters; ``None`` when
    the scope or a filter cannot be applied to this rollup (its figures are then unknown)."""
    rows: QuerySet[Any] = ROLLUPS[source].objects.filter(day__range=(period.first, period.last))
    columns = _SCOPE_COLUMNS[source]
    if scope.kind == "teams":
        rows = rows.filter(**{f"{columns['team']}__in": sorted(scope.teams)})
    elif scope.kind == "own":
        if "agent" not in columns:
            return None
        rows = rows.filter(**{columns["agent"]: scope.agent_id})
    for name, value in filters.items():
        column = DIMENSIONS[name].columns.get(source)
        if column is None:
            return None
        rows = rows.filter(**{column: value})
    return rows


def _measures(source: str) -> list[str]:
    return sorted(
        {m for k in KPIS.values() if k.source == source for m in k.numerator + k.denominator}
    )


def _aggregate(
    period: Period,
    scope: Scope,
    filters: Mapping[str, Any],
    kpis: Sequence[Kpi],
    group: str | None,
) -> dict[Any, dict[str, int]]:
    """Sums per group key (``None`` when not grouped) of every measure the KPIs need, keyed
    "source.measure"."""
    found: dict[Any, dict[str, int]] = {}
    for source in sorted({k.source for k in kpis}):
        rows = _filtered(source, period, scope, filters)
        if rows is None:
            continue
        measures = _measures(source)
        sums = {m: Sum(m) for m in measures}
        if group is None:
            result = rows.aggregate(**sums)
            found.setdefault(None, {}).update(
                {f"{source}.{m}": int(result[m] or 0) for m in measures}
            )
            continue
        if group == "bucket":
            if period.grain == "week":
                rows = rows.annotate(g=TruncWeek("day"))
            elif period.grain == "month":
                rows = rows.annotate(g=TruncMonth("day"))
            else:
                rows = rows.annotate(g=F("day"))
        else:
            column = DIMENSIONS[group].columns.get(source)
            if column is None:
                continue
            rows = rows.annotate(g=F(column))
        for item in rows.values("g").annotate(**sums).order_by():
            key = item["g"]
            if isinstance(key, datetime):  # a truncation may give a moment on some backends
                key = key.date()
            bucket = found.setdefault(key, {})
            for m in measures:
                bucket[f"{source}.{m}"] = bucket.get(f"{source}.{m}", 0) + int(item[m] or 0)
    return found


def _values(sums: Mapping[str, int], kpis: Iterable[Kpi], scope: Scope) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for kpi in kpis:
        own = {m.split(".", 1)[1]: n for m, n in sums.items() if m.startswith(f"{kpi.source}.")}
        values[kpi.key] = kpi.value(own) if own and kpi.available(scope) else None
    return values


def _chosen(keys: Sequence[str] | None) -> list[Kpi]:
    if keys is None:
        return list(KPIS.values())
    unknown = [k for k in keys if k not in KPIS]
    if unknown:
        raise KeyError(", ".join(unknown))
    return [KPIS[k] for k in keys]


def totals(
    period: Period,
    scope: Scope,
    *,
    filters: Mapping[str, Any] | None = None,
    kpis: Sequence[str] | None = None,
) -> Row:
    chosen = _chosen(kpis)
    sums = _aggregate(period, scope, filters or {}, chosen, None).get(None, {})
    return Row(None, str(_("All")), sums, _values(sums, chosen, scope))


def breakdown(
    period: Period,
    scope: Scope,
    by: str,
    *,
    filters: Mapping[str, Any] | None = None,
    kpis: Sequence[str] | None = None,
) -> list[Row]:
    """One row per value of dimension ``by`` that has figures in the period, labelled."""
    if by not in DIMENSIONS:
        raise KeyError(by)
    chosen = _chosen(kpis)
    grouped = _aggregate(period, scope, filters or {}, chosen, by)
    labels = labels_of(by, list(grouped))
    found = [
        Row(key, labels.get(key, ""), sums, _values(sums, chosen, scope))
        for key, sums in grouped.items()
    ]
    return sorted(found, key=lambda r: (r.key is None, r.label))


def trend(
    period: Period,
    scope: Scope,
    *,
    filters: Mapping[str, Any] | None = None,
    kpis: Sequence[str] | None = None,
) -> list[Row]:
    """One row per bucket of the period's grain, every bucket present (empty ones too)."""
    chosen = _chosen(kpis)
    grouped = _aggregate(period, scope, filters or {}, chosen, "bucket")
    return [
        Row(
            day, day.isoformat(), grouped.get(day, {}), _values(grouped.get(day, {}), chosen, scope)
        )
        for day in period.buckets()
    ]


def labels_of(by: str, keys: Sequence[Any]) -> dict[Any, str]:
    """What a dimension's values are called on a page: names for ids, labels for codes; an
    empty value is "(none)"."""
    none = str(_("(none)"))
    ids = [k for k in keys if k not in (None, "")]
    names: dict[Any, str] = {}
    if by == "team":
        names = dict(Team.objects.filter(pk__in=ids).values_list("pk", "name"))
    elif by == "rule":
        names = dict(Rule.objects.filter(pk__in=ids).values_list("pk", "name"))
    elif by == "provider":
        names = dict(Provider.objects.filter(pk__in=ids).values_list("pk", "name"))
    elif by == "agent":
        for profile in StaffProfile.objects.filter(user_id__in=ids).select_related("user"):
            names[profile.user_id] = str(profile)
    elif by == "channel":
        names = {k: str(Channel(k).label) if k in Channel.values else str(k) for k in ids}
    else:
        names = {k: str(k) for k in ids}
    return {k: names.get(k, str(k)) if k not in (None, "") else none for k in keys}
