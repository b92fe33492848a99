"""The key figures (关键指标) every report, export, scheduled e-mail and ``huifang analytics kpis``
prints: one place that turns rollup sums into KPIs, for a period, a reader's scope, optional
filters, and optionally broken down by a dimension or by the period's buckets.

The formulas are those of docs/metrics.md. Every figure is a sum over the daily rollups
(``models``), never a scan of the outbox, the tasks or the answers, so a year costs what a
month costs: one aggregate query per rollup table touched — its cut table (``CUT_ROLLUPS``,
summed per day, team and one dimension) whenever that can answer (``cut_of``).

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

from .models import (
    AnswerDay,
    AnswerDayBy,
    EventDay,
    EventDayBy,
    MessageDay,
    MessageDayBy,
    TaskDay,
    TaskDayBy,
)
from .periods import Period
from .scope import EVERYTHING, TEAMS, Scope

MESSAGES, TASKS, ANSWERS, EVENTS = "messages", "tasks", "answers", "events"
ROLLUPS: dict[str, Any] = {
    MESSAGES: MessageDay,
    TASKS: TaskDay,
    ANSWERS: AnswerDay,
    EVENTS: EventDay,
}
# Each rollup summed by team and one dimension (``models.DayCut``): what ``cut_of`` reads.
CUT_ROLLUPS: dict[str, Any] = {
    MESSAGES: MessageDayBy,
    TASKS: TaskDayBy,
    ANSWERS: AnswerDayBy,
    EVENTS: EventDayBy,
}


@dataclass(frozen=True)
class Dimension:
    key: str
    label: Promise
    # The rollup column of this dimension in each rollup table that has it.
    columns: Mapping[str, str]


DIMENSIONS: dict[str, Dimension] = {
    d.key: d
    for d in (
        Dimension(
            "team",
            _("Team"),
            {MESSAGES: "team_id", TASKS: "team_id", ANSWERS: "team_id", EVENTS: "team_id"},
        ),
        Dimension("agent", _("Agent"), {TASKS: "assignee_id"}),
        Dimension("rule", _("Rule"), {MESSAGES: "rule_id", TASKS: "rule_id", ANSWERS: "rule_id"}),
        Dimension("step", _("Step"), {MESSAGES: "step", TASKS: "step"}),
        Dimension("channel", _("Channel"), {MESSAGES: "channel", ANSWERS: "channel"}),
        Dimension("provider", _("Provider"), {MESSAGES: "provider_id"}),
        Dimension(
            "province",
            _("Province"),
            {MESSAGES: "province", ANSWERS: "province", EVENTS: "province"},
        ),
        Dimension("city", _("City"), {MESSAGES: "city", ANSWERS: "city", EVENTS: "city"}),
        Dimension(
            "business_line",
            _("Business line"),
            {MESSAGES: "business_line", EVENTS: "business_line"},
        ),
        Dimension("tier", _("Customer tier"), {MESSAGES: "tier", EVENTS: "tier"}),
        Dimension("source", _("Store / source"), {MESSAGES: "source", EVENTS: "source"}),
        Dimension(
            "lifecycle_stage",
            _("Lifecycle stage"),
            {MESSAGES: "lifecycle_stage", EVENTS: "lifecycle_stage"},
        ),
        Dimension(
            "product_category",
            _("Product category"),
            {MESSAGES: "product_category", EVENTS: "product_category"},
        ),
        # The customer's owner today: messages and events have no agent of their own.
        Dimension("owner", _("Customer owner"), {MESSAGES: "owner_id", EVENTS: "owner_id"}),
        Dimension("reason", _("Reason"), {MESSAGES: "reason"}),
    )
}
# How a reader's scope narrows each rollup: by team, and (agents) by agent.
_SCOPE_COLUMNS = {
    MESSAGES: {"team": "team_id"},
    TASKS: {"team": "team_id", "agent": "assignee_id"},
    ANSWERS: {"team": "team_id"},
    EVENTS: {"team": "team_id"},
}


@dataclass(frozen=True)
class Kpi:
    key: str
    label: Promise
    source: str  # the rollup it is computed from
    # Measures summed (a difference for NPS: see ``value``); "source.measure" names a measure
    # of another rollup (reach adds messages and tasks).
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    unit: str = "rate"  # rate (%), score (NPS −100…100), average, seconds, count
    higher_is_better: bool = True
    help: Promise | str = ""

    def value(self, sums: Mapping[str, int]) -> float | None:
        """The KPI from the sums of its measures ("-measure" is subtracted)."""
        if self.unit == "count":
            return float(_total(sums, self.numerator))
        below = _total(sums, self.denominator)
        if below <= 0:
            return None
        if self.unit == "score":  # NPS: promoters − detractors, in points
            promoters, detractors = (sums.get(m, 0) for m in self.numerator)
            return 100.0 * (promoters - detractors) / below
        above = _total(sums, self.numerator)
        return (100.0 if self.unit == "rate" else 1.0) * above / below

    @property
    def sources(self) -> tuple[str, ...]:
        """Every rollup the KPI reads: its own, and those its qualified measures name."""
        named = {m.split(".", 1)[0] for m in self.numerator + self.denominator if "." in m}
        return (self.source, *sorted(named - {self.source}))

    def available(self, scope: Scope) -> bool:
        return all(
            scope.covers(d)
            for source in self.sources
            for d in ("team", "agent")
            if _needs(source, d, scope)
        )


def _total(sums: Mapping[str, int], measures: Iterable[str]) -> int:
    return sum(-sums.get(m[1:], 0) if m.startswith("-") else sums.get(m, 0) for m in measures)


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
            "reach_rate", _("Reach rate"), MESSAGES,
            ("created_reached", "tasks.created_reached"), ("created", "tasks.opened"),
            help=_("Of the messages written and tasks opened in the period, the share that "
                   "reached the customer."),
        ),
        Kpi(
            "delivery_rate", _("Delivery rate"), MESSAGES, ("sent_delivered",), ("sent",),
            help=_("Of the messages sent in the period, the share delivered since."),
        ),
        Kpi(
            "failure_rate", _("Failure rate"), MESSAGES, ("failed",), ("created",),
            higher_is_better=False,
        ),
        Kpi("click_rate", _("Click rate"), MESSAGES, ("sent_clicked",), ("sent_links",)),
        Kpi("reply_rate", _("Response rate"), MESSAGES, ("sent_replied",), ("sent_replyable",)),
        Kpi(
            "survey_open_rate", _("Questionnaire open rate"), MESSAGES, ("survey_opened",),
            ("surveys",),
        ),
        Kpi(
            "survey_response_rate", _("Questionnaire response rate"), MESSAGES,
            ("survey_answered",), ("surveys",),
        ),
        Kpi(
            "drop_rate", _("Drop rate"), MESSAGES, ("dropped",), ("created",),
            higher_is_better=False,
        ),
        Kpi(
            "held_share", _("Held share"), MESSAGES, ("held",), ("created",),
            higher_is_better=False,
        ),
        Kpi(
            "holds", _("Holds"), MESSAGES, ("holds",), (), unit="count", higher_is_better=False,
            help=_("The gate's holds of the messages written in the period; by reason."),
        ),
        Kpi("tasks_opened", _("Follow-up tasks"), TASKS, ("opened",), (), unit="count"),
        Kpi(
            "completion_rate", _("Follow-up completion rate"), TASKS, ("created_done",),
            ("opened", "-created_cancelled"),
        ),
        Kpi("on_time_rate", _("On-time rate"), TASKS, ("on_time",), ("with_due",)),
        Kpi("contact_rate", _("Contact success rate"), TASKS, ("reached",), ("done",)),
        Kpi("fcr", _("First-contact resolution"), TASKS, ("first_contact",), ("reached",)),
        Kpi("conversion_7", _("Conversion within 7 days"), TASKS, ("converted_7",), ("reached",)),
        Kpi(
            "conversion_30", _("Conversion after follow-up"), TASKS, ("converted_30",),
            ("reached",), help=_("Of the follow-ups reaching the customer, the share followed "
                                 "by a purchase within 30 days."),
        ),
        Kpi(
            "conversion_90", _("Conversion within 90 days"), TASKS, ("converted_90",),
            ("reached",),
        ),
        Kpi("agent_csat", _("Agent-recorded satisfaction"), TASKS, ("scored_ok",), ("scored",)),
        Kpi(
            "handling_time", _("Average handling time"), TASKS, ("handling_seconds",),
            ("handled",), unit="seconds", higher_is_better=False,
        ),
        Kpi("answered", _("Questionnaires answered"), ANSWERS, ("answered",), (), unit="count"),
        Kpi("csat", _("CSAT"), ANSWERS, ("csat_ok",), ("csat_n",)),
        Kpi("nps", _("NPS"), ANSWERS, ("promoters", "detractors"), ("nps_n",), unit="score"),
        Kpi("ces", _("CES"), ANSWERS, ("ces_sum",), ("ces_n",), unit="average"),
        Kpi("complaints", _("Complaints"), EVENTS, ("complaints",), (), unit="count",
            higher_is_better=False),
        Kpi(
            "complaint_rate", _("Complaint rate"), EVENTS, ("complaints",),
            ("messages.created_reached", "tasks.created_reached"), higher_is_better=False,
            help=_("Complaints per 100 messages and tasks reaching the customer."),
        ),
        Kpi(
            "repeat_complaint_rate", _("Repeat complaints"), EVENTS, ("repeat_complaints",),
            ("complaints",), higher_is_better=False,
        ),
        Kpi("purchases", _("Purchases"), EVENTS, ("purchases",), (), unit="count"),
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


# The dimensions whose values are ids: a cut keeps its values as text.
_IDS = frozenset({"team", "agent", "rule", "provider", "owner"})


def cut_of(source: str, scope: Scope, filters: Mapping[str, Any], group: str | None) -> str | None:
    """The cut of ``source``'s cut table (``CUT_ROLLUPS``) that answers a query, or ``None``
    when only the rollup itself can. The cut tables are kept by team and one dimension, so they
    answer a query in the whole organisation or in teams that involves at most one dimension
    besides the team, as a filter, as the breakdown or both: the totals and trend (cut "",
    which is also the breakdown by team) and a breakdown by, or a filter on, one dimension of
    the rollup (its own cut). Two dimensions, or an agent's own scope (by assignee), need the
    rollup's rows."""
    if scope.kind not in (EVERYTHING, TEAMS):
        return None
    involved = set(filters) - {"team"}
    if group not in (None, "bucket", "team"):
        involved.add(group)
    if not involved:
        return ""
    if len(involved) > 1:
        return None
    (dimension,) = involved
    return dimension if source in DIMENSIONS[dimension].columns else None


def _filtered(
    source: str,
    period: Period,
    scope: Scope,
    filters: Mapping[str, Any],
    cut: str | None = None,
) -> QuerySet[Any] | None:
    """The rollup rows of ``source`` in the period, the scope and the filters (the rows of
    ``cut`` of its cut table, when given); ``None`` when the scope or a filter cannot be applied
    to this rollup (its figures are then unknown)."""
    days = {"day__range": (period.first, period.last)}
    rows: QuerySet[Any] = (
        ROLLUPS[source].objects.filter(**days)
        if cut is None
        else CUT_ROLLUPS[source].objects.filter(cut=cut, **days)
    )
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
        none = value is None or (value == "" and name in _IDS)  # '' is an id's "(none)"
        if cut and name == cut:  # the cut's own dimension: its value, kept as text
            rows = rows.filter(value__isnull=True) if none else rows.filter(value=str(value))
        else:
            rows = rows.filter(**({f"{column}__isnull": True} if none else {column: value}))
    return rows


def measure_total(
    source: str,
    measure: str,
    period: Period,
    scope: Scope,
    filters: Mapping[str, Any] | None = None,
) -> int | None:
    """The sum of one measure of ``source`` in the period, the scope and the filters (a
    drill-down list's total); ``None`` when the rollup cannot be narrowed so."""
    filters = filters or {}
    rows = _filtered(source, period, scope, filters, cut_of(source, scope, filters, None))
    if rows is None:
        return None
    return int(rows.aggregate(n=Sum(measure))["n"] or 0)


def _measures(source: str) -> list[str]:
    """Every measure of ``source`` some KPI needs."""
    found: set[str] = set()
    for kpi in KPIS.values():
        for measure in kpi.numerator + kpi.denominator:
            measure = measure.lstrip("-")
            owner, _dot, name = measure.rpartition(".")
            if (owner or kpi.source) == source:
                found.add(name)
    return sorted(found)


def _aggregate(
    period: Period,
    scope: Scope,
    filters: Mapping[str, Any],
    kpis: Sequence[Kpi],
    group: str | None,
    unknown: set[str] | None = None,
    *,
    fine: bool = False,
) -> dict[Any, dict[str, int]]:
    """Sums per group key (``None`` when not grouped) of every measure the KPIs need, keyed
    "source.measure"; the sources that cannot be read so are added to ``unknown``. Each rollup
    is read through its cut table where one answers (``cut_of``), unless ``fine`` (tests)."""
    found: dict[Any, dict[str, int]] = {}
    unknown = set() if unknown is None else unknown
    for source in sorted({s for k in kpis for s in k.sources}):
        cut = None if fine else cut_of(source, scope, filters, group)
        rows = _filtered(source, period, scope, filters, cut)
        if rows is None:
            unknown.add(source)
            continue
        measures = _measures(source)
        sums = {m: Sum(m) for m in measures}
        if group is None:
            result = rows.aggregate(**sums)
            found.setdefault(None, {}).update(
                {f"{source}.{m}": int(result[m] or 0) for m in measures}
            )
            continue
        by_value = False
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
                unknown.add(source)
                continue
            by_value = bool(cut) and group != "team"  # else the team breakdown: team_id
            rows = rows.annotate(g=F("value" if by_value else column))
        for item in rows.values("g").annotate(**sums).order_by():
            key = item["g"]
            if isinstance(key, datetime):  # a truncation may give a moment on some backends
                key = key.date()
            elif by_value and cut in _IDS and key is not None:
                key = int(key)
            bucket = found.setdefault(key, {})
            for m in measures:
                bucket[f"{source}.{m}"] = bucket.get(f"{source}.{m}", 0) + int(item[m] or 0)
    return found


def _values(
    sums: Mapping[str, int], kpis: Iterable[Kpi], scope: Scope, unknown: frozenset[str] | set[str]
) -> dict[str, float | None]:
    """Each KPI's value: ``None`` without rows of its own rollup, or when one of the rollups it
    reads cannot be narrowed to the scope, the filters or the dimension."""
    values: dict[str, float | None] = {}
    for kpi in kpis:
        own: dict[str, int] = {
            m.split(".", 1)[1]: n for m, n in sums.items() if m.startswith(f"{kpi.source}.")
        }
        readable = own and kpi.available(scope) and not unknown.intersection(kpi.sources)
        values[kpi.key] = kpi.value({**sums, **own}) if readable else None
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
    unknown: set[str] = set()
    sums = _aggregate(period, scope, filters or {}, chosen, None, unknown).get(None, {})
    return Row(None, str(_("All")), sums, _values(sums, chosen, scope, unknown))


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
    unknown: set[str] = set()
    grouped = _aggregate(period, scope, filters or {}, chosen, by, unknown)
    labels = labels_of(by, list(grouped))
    found = [
        Row(key, labels.get(key, ""), sums, _values(sums, chosen, scope, unknown))
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
    unknown: set[str] = set()
    grouped = _aggregate(period, scope, filters or {}, chosen, "bucket", unknown)
    return [
        Row(
            day,
            day.isoformat(),
            grouped.get(day, {}),
            _values(grouped.get(day, {}), chosen, scope, unknown),
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
    elif by in ("agent", "owner"):
        for profile in StaffProfile.objects.filter(user_id__in=ids).select_related("user"):
            names[profile.user_id] = str(profile)
    elif by == "channel":
        names = {k: str(Channel(k).label) if k in Channel.values else str(k) for k in ids}
    else:
        names = {k: str(k) for k in ids}
    return {k: names.get(k, str(k)) if k not in (None, "") else none for k in keys}
