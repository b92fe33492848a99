"""The key figures (关键指标) every report, export, scheduled e-mail and ``huifang analytics kpis``
prints: one place that turns rollup sums into KPIs, for a period, a reader's scope, optional
filters, and optionally broken down by a dimension or by the period's buckets.

The formulas are those of docs/metrics.md. Every figure is a sum over the daily rollups
(``models``), never a scan of the outbox, the tasks or the answers, so a year costs what a
month costs: one aggregate query per rollup table touched — its cut table (``CUT_ROLLUPS``,
summed per day, team and one dimension) whenever that can answer (``cut_of``) — and one more
by rule for the figures compared rule by rule (the conversion baseline and uplift,
``Kpi.strata``).

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
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Q, QuerySet, Sum
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
from .periods import Period, next_month
from .periods import bucket as bucket_of
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
    unit: str = "rate"  # rate (%), points (a difference of rates), score (NPS), average,
    # seconds, count
    higher_is_better: bool = True
    help: Promise | str = ""
    # Compared like with like: the KPI is worked out per value of the dimension ``strata``
    # (each rule) and weighted by ``weights`` of the same stratum (``weighted``).
    strata: str = ""
    weights: tuple[str, ...] = ()
    # With ``actual``: the uplift of ``actual`` (÷ ``weights``) over the weighted rate.
    actual: tuple[str, ...] = ()
    # The KPIs a card shows beside this one's value (``short`` names them there); they get
    # no card of their own.
    beside: tuple[str, ...] = ()
    short: Promise | str = ""

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

    def weighted(self, strata: Iterable[Mapping[str, int]]) -> float | None:
        """The KPI from the sums of each stratum: the stratum's rate (numerator ÷ denominator)
        weighted by its ``weights``, over the strata with both; with ``actual``, the actual
        rate of those strata less it, in points. ``None`` when no stratum has both: a rule
        whose follow-ups all reached the customer has no baseline to compare with."""
        weight = expected = actual = 0.0
        for sums in strata:
            wanted, pool = _total(sums, self.weights), _total(sums, self.denominator)
            if wanted <= 0 or pool <= 0:
                continue
            weight += wanted
            expected += wanted * _total(sums, self.numerator) / pool
            actual += _total(sums, self.actual)
        if weight <= 0:
            return None
        return 100.0 * ((actual - expected) if self.actual else expected) / weight

    @property
    def measures(self) -> tuple[str, ...]:
        """Every measure the KPI reads ("-" and "source." as written)."""
        return self.numerator + self.denominator + self.weights + self.actual

    @property
    def sources(self) -> tuple[str, ...]:
        """Every rollup the KPI reads: its own, and those its qualified measures name."""
        named = {m.split(".", 1)[0] for m in self.measures if "." in m}
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


def _baseline(days: int, label: Promise, uplift: Promise) -> tuple[Kpi, Kpi]:
    """The baseline of conversion within ``days`` days, and the follow-ups' uplift over it
    (docs/metrics.md §12): each rule's follow-ups closed without reaching the customer that
    were followed by a purchase, weighted by the rule's follow-ups reaching the customer."""
    weighted: dict[str, Any] = {
        "strata": "rule",
        "weights": ("reached",),
        "numerator": (f"baseline_converted_{days}",),
        "denominator": ("baseline_pool",),
    }
    return (
        Kpi(
            f"baseline_{days}", label, TASKS, **weighted, short=_("baseline"),
            help=_("The same rate for the follow-ups of the same rules closed without ever "
                   "reaching the customer (never answered, or cancelled before any contact; "
                   "not wrong numbers or refusals), each rule weighted by its follow-ups "
                   "reaching the customer."),
        ),
        Kpi(
            f"uplift_{days}", uplift, TASKS, **weighted, actual=(f"converted_{days}",),
            unit="points", short=_("uplift"),
            help=_("Conversion after reaching the customer less the baseline, in percentage "
                   "points, over the rules that have a baseline."),
        ),
    )  # fmt: skip


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
        Kpi(
            "conversion_7", _("Conversion within 7 days"), TASKS, ("converted_7",), ("reached",),
            beside=("baseline_7", "uplift_7"),
        ),
        Kpi(
            "conversion_30", _("Conversion after follow-up"), TASKS, ("converted_30",),
            ("reached",), help=_("Of the follow-ups reaching the customer, the share followed "
                                 "by a purchase within 30 days."),
            beside=("baseline_30", "uplift_30"),
        ),
        Kpi(
            "conversion_90", _("Conversion within 90 days"), TASKS, ("converted_90",),
            ("reached",), beside=("baseline_90", "uplift_90"),
        ),
        *_baseline(7, _("Baseline conversion within 7 days"), _("Uplift within 7 days")),
        *_baseline(
            30, _("Baseline conversion after follow-up"), _("Uplift of conversion after follow-up")
        ),
        *_baseline(90, _("Baseline conversion within 90 days"), _("Uplift within 90 days")),
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


def days_of(period: Period, monthly: bool) -> Q:
    """The cut-table rows of the period: its days, or (``monthly``) the whole months within it
    and the days at its ragged ends — twelve rows a value for a year instead of 365. Whole
    months cannot be split into weeks or days: a trend by week or day reads days only."""
    days = Q(month=False, day__range=(period.first, period.last))
    if not monthly:
        return days
    start = period.first if period.first.day == 1 else next_month(period.first)
    end = next_month(period.last)  # the first day after the last whole month
    if period.last != end - timedelta(days=1):
        end = period.last.replace(day=1)
    if start >= end:
        return days
    return (
        Q(month=True, day__gte=start, day__lt=end)
        | Q(month=False, day__gte=period.first, day__lt=start)
        | Q(month=False, day__gte=end, day__lte=period.last)
    )


def _filtered(
    source: str,
    period: Period,
    scope: Scope,
    filters: Mapping[str, Any],
    cut: str | None = None,
    monthly: bool = False,
) -> QuerySet[Any] | None:
    """The rollup rows of ``source`` in the period, the scope and the filters (the rows of
    ``cut`` of its cut table, when given); ``None`` when the scope or a filter cannot be applied
    to this rollup (its figures are then unknown)."""
    rows: QuerySet[Any] = (
        ROLLUPS[source].objects.filter(day__range=(period.first, period.last))
        if cut is None
        else CUT_ROLLUPS[source].objects.filter(days_of(period, monthly), cut=cut)
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
    cut = cut_of(source, scope, filters, None)
    rows = _filtered(source, period, scope, filters, cut, monthly=True)
    if rows is None:
        return None
    return int(rows.aggregate(n=Sum(measure))["n"] or 0)


def _measures(source: str) -> list[str]:
    """Every measure of ``source`` some KPI needs."""
    found: set[str] = set()
    for kpi in KPIS.values():
        for measure in kpi.measures:
            measure = measure.lstrip("-")
            owner, _dot, name = measure.rpartition(".")
            if (owner or kpi.source) == source:
                found.add(name)
    return sorted(found)


def _monthly(period: Period, group: str | None) -> bool:
    """Whether whole-month rows can answer: anything but a trend by week or by day."""
    return group != "bucket" or period.grain == "month"


def _by_value(cut: str | None, group: str | None) -> bool:
    """Whether rows of ``cut`` of a cut table are grouped by their ``value`` (a breakdown by
    the cut's dimension; by team they are grouped by ``team_id``)."""
    return bool(cut) and group not in (None, "bucket", "team")


def _grouped(
    rows: QuerySet[Any],
    source: str,
    period: Period,
    group: str | None,
    cut: str | None = None,
    *,
    by_day: bool = False,
) -> QuerySet[Any] | None:
    """``rows`` (of ``cut`` of the cut table, when given) with their group key as ``g``
    (``None`` when not grouped), or ``None`` when ``source`` has no column of the dimension
    ``group``. ``by_day``: buckets by day whatever the grain (the caller folds them)."""
    if group is None:
        return rows
    if group == "bucket":
        if by_day:
            return rows.annotate(g=F("day"))
        if period.grain == "week":
            return rows.annotate(g=TruncWeek("day"))
        if period.grain == "month":
            return rows.annotate(g=TruncMonth("day"))
        return rows.annotate(g=F("day"))
    column = DIMENSIONS[group].columns.get(source)
    if column is None:
        return None
    return rows.annotate(g=F("value" if _by_value(cut, group) else column))


def _key(item: Mapping[str, Any], ids: bool = False) -> Any:
    """The group key of ``item``: a day for a bucket, an id for a cut table's id ``value``."""
    key = item.get("g")
    if isinstance(key, datetime):  # a truncation may give a moment on some backends
        key = key.date()
    elif ids and key is not None:
        key = int(key)
    return key


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
        rows = _filtered(source, period, scope, filters, cut, _monthly(period, group))
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
        # Weeks and months are folded from days here: SQLite truncates a date to its week in
        # Python, once a row (11,000 calls, ~60 ms of a year's trend by week at 100,000
        # customers), where a day is read as it is stored.
        fold = group == "bucket" and period.grain != "day"
        rows = _grouped(rows, source, period, group, cut, by_day=fold)
        if rows is None:
            unknown.add(source)
            continue
        ids = _by_value(cut, group) and cut in _IDS
        for item in rows.values("g").annotate(**sums).order_by():
            key = _key(item, ids)
            bucket = found.setdefault(bucket_of(key, period.grain) if fold else key, {})
            for m in measures:
                bucket[f"{source}.{m}"] = bucket.get(f"{source}.{m}", 0) + int(item[m] or 0)
    return found


Strata = dict[tuple[str, str], list[dict[str, int]]]  # (source, dimension) → each stratum's sums


def _strata(
    period: Period,
    scope: Scope,
    filters: Mapping[str, Any],
    kpis: Sequence[Kpi],
    group: str | None,
    *,
    fine: bool = False,
) -> dict[Any, Strata]:
    """For the KPIs compared like with like (``Kpi.strata``): per group key, the sums of their
    source's measures in each stratum (each rule of the group). One more query per such
    source; none when no chosen KPI has strata."""
    found: dict[Any, Strata] = {}
    for source, by in sorted({(k.source, k.strata) for k in kpis if k.strata}):
        # The strata are one dimension more: the cut of ``by`` answers when it is the only one.
        cut = None if fine else cut_of(source, scope, {**filters, by: None}, group)
        if cut not in (None, by):
            cut = None
        rows = _filtered(source, period, scope, filters, cut, _monthly(period, group))
        rows = None if rows is None else _grouped(rows, source, period, group, cut)
        if rows is None:
            continue  # _aggregate has found the source unknown
        # Only what the stratified KPIs weigh (a third of the rollup's columns).
        measures = sorted(
            {
                m.lstrip("-")
                for k in kpis
                if (k.source, k.strata) == (source, by)
                for m in k.measures
                if "." not in m
            }
        )
        keys = ["g", "s"] if group is not None else ["s"]
        rows = rows.annotate(s=F("value" if cut else DIMENSIONS[by].columns[source]))
        ids = _by_value(cut, group) and cut in _IDS
        for item in rows.values(*keys).annotate(**{m: Sum(m) for m in measures}).order_by():
            stratum = {m: int(item[m] or 0) for m in measures}
            found.setdefault(_key(item, ids), {}).setdefault((source, by), []).append(stratum)
    return found


def _values(
    sums: Mapping[str, int],
    kpis: Iterable[Kpi],
    scope: Scope,
    unknown: frozenset[str] | set[str],
    strata: Strata | None = None,
) -> dict[str, float | None]:
    """Each KPI's value: ``None`` without rows of its own rollup, or when one of the rollups it
    reads cannot be narrowed to the scope, the filters or the dimension."""
    values: dict[str, float | None] = {}
    # Each source's own measures, once (not once a KPI: a year by week is 53 rows × 40 KPIs).
    by_source: dict[str, dict[str, int]] = {}
    for name, n in sums.items():
        source, dot, measure = name.partition(".")
        if dot:
            by_source.setdefault(source, {})[measure] = n
    for kpi in kpis:
        own = by_source.get(kpi.source, {})
        readable = own and kpi.available(scope) and not unknown.intersection(kpi.sources)
        if not readable:
            values[kpi.key] = None
        elif kpi.strata:
            values[kpi.key] = kpi.weighted((strata or {}).get((kpi.source, kpi.strata), []))
        else:
            values[kpi.key] = kpi.value({**sums, **own})
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
    strata = _strata(period, scope, filters or {}, chosen, None).get(None)
    return Row(None, str(_("All")), sums, _values(sums, chosen, scope, unknown, strata))


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
    strata = _strata(period, scope, filters or {}, chosen, by)
    labels = labels_of(by, list(grouped))
    found = [
        Row(key, labels.get(key, ""), sums, _values(sums, chosen, scope, unknown, strata.get(key)))
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
    strata = _strata(period, scope, filters or {}, chosen, "bucket")
    return [
        Row(
            day,
            day.isoformat(),
            grouped.get(day, {}),
            _values(grouped.get(day, {}), chosen, scope, unknown, strata.get(day)),
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
