"""The analytics pages (数据分析): the management cockpit, team / channel / rule performance,
and the drill-down list behind every number.

Every figure comes from ``kpis`` (sums over the daily rollups); only the drill-down list reads
the raw messages, tasks, responses and events (``drill``), a page of 50 at a time, narrowed
to the reader's scope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huifang.accounts.permissions import can, requires
from huifang.customers.event_types import resolve
from huifang.customers.models import Event
from huifang.organisation.zones import organisation_zone
from huifang.rules.models import Rule
from huifang.surveys.models import Response, SurveyVersion
from huifang.tasks.models import Task

from . import kpis
from .drill import (
    KIND_LABELS,
    LIST_COLUMNS,
    MEASURE_LABELS,
    MEASURES,
    PAGE_SIZE,
    RELATED,
    BadRequest,
    bounds,
    drill_rows,
    quoted_table,
    rollup_total,
    scoped,
    total,
)
from .kpis import ANSWERS, DIMENSIONS, EVENTS, KPIS, MESSAGES, TASKS, Kpi, Row
from .periods import PRESETS, Period, PeriodError, period_from
from .scope import OWN, TEAMS, Scope, scope_for

# The funnel of the cockpit: (rollup measure "source.measure", label). The messages' steps
# are the cohort of the period's sent messages: what became of them since.
FUNNEL = (
    (f"{MESSAGES}.sent", gettext_lazy("Sent")),
    (f"{MESSAGES}.sent_delivered", gettext_lazy("Delivered")),
    (f"{MESSAGES}.sent_clicked", gettext_lazy("Clicked")),
    (f"{MESSAGES}.sent_replied", gettext_lazy("Replied")),
    (f"{ANSWERS}.answered", gettext_lazy("Questionnaires answered")),
    (f"{TASKS}.done", gettext_lazy("Follow-up tasks done")),
)
# Complaint hot spots: ranked by the first of these KPIs that exists (worst first), by the
# first of these dimensions that exist.
HOTSPOT_KPIS = ("complaint_rate", "complaints", "nps", "csat")
HOTSPOT_DIMENSIONS = ("province", "city", "product_category", "product", "store", "source")
HOTSPOT_ROWS = 10
# Detractors who still need a call: NPS 0–6 answers whose recovery call (a task of the ready
# strategy detractor-recovery, or any task calling back with its questionnaire revisit-check)
# is still open, or was never opened. The cockpit shows the first few; the list shows all.
DETRACTOR_NPS = 6
RECOVERY_RULE = "detractor-recovery"
RECOVERY_SURVEY = "revisit-check"
DETRACTOR_ROWS = 5
OPEN_TASK = (Task.Status.OPEN, Task.Status.IN_PROGRESS)

# The performance pages: their dimensions (tabs), first the default.
PAGES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "teams": (gettext_lazy("Team and agent performance"), ("team", "agent")),
    "channels": (gettext_lazy("Channel and provider performance"), ("channel", "provider")),
    "rules": (gettext_lazy("Rule performance"), ("rule", "step")),
}

# ---------------------------------------------------------------------------- formatting


def shown(kpi: Kpi, value: float | None) -> str:
    """A KPI's value as a page shows it; "—" when there is nothing to count."""
    if value is None:
        return "—"
    if kpi.unit == "rate":
        return f"{value:.1f}%"
    if kpi.unit == "points":
        return _("%(delta)s pp") % {"delta": f"{value:+.1f}"}
    if kpi.unit == "score":
        return f"{value:+.0f}" if value else "0"
    if kpi.unit == "average":
        return f"{value:.2f}"
    if kpi.unit == "seconds":
        return _duration(value)
    return f"{value:,.0f}"


def _duration(seconds: float) -> str:
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": secs}
    return _("%(s)d s") % {"s": secs}


def change(kpi: Kpi, value: float | None, before: float | None) -> dict[str, Any] | None:
    """The change against the comparison period: text, direction and whether it is good."""
    if value is None or before is None:
        return None
    delta = value - before
    if kpi.unit == "count":
        if not before:
            return None
        text = f"{100.0 * delta / before:+.1f}%"
    elif kpi.unit in ("rate", "points"):
        text = _("%(delta)s pp") % {"delta": f"{delta:+.1f}"}
    elif kpi.unit == "seconds":
        text = ("+" if delta >= 0 else "−") + _duration(abs(delta))
    elif kpi.unit == "average":
        text = f"{delta:+.2f}"
    else:
        text = f"{delta:+.1f}"
    if abs(delta) < 1e-9:
        return {"text": text, "arrow": "dash", "tone": "secondary"}
    good = (delta > 0) == kpi.higher_is_better
    return {
        "text": text,
        "arrow": "up" if delta > 0 else "down",
        "tone": "success" if good else "danger",
    }


# ---------------------------------------------------------------------------- period


def _periods(request: HttpRequest) -> tuple[Period, Period, str]:
    """The period asked for, the one it is compared with, and how it was chosen."""
    period = period_from(request.GET, timezone.now())
    if request.GET.get("compare") == "custom":
        start, end = request.GET.get("compare_from") or "", request.GET.get("compare_to") or ""
        if not (start and end):
            raise PeriodError(_("Give both days of the period to compare with."))
        against = period_from({"from": start, "to": end, "grain": period.grain}, timezone.now())
        return period, against, "custom"
    return period, period.previous(), "previous"


def _picker(request: HttpRequest, period: Period | None) -> dict[str, Any]:
    """What the period picker shows: presets, the custom days, the grain, the comparison."""
    params = request.GET
    keep = {k: v for k, v in params.items() if k in ("by", "sort", "dir")}
    presets = []
    for key, days in PRESETS.items():
        query = dict(keep, period=key)
        active = not params.get("from") and (params.get("period") or "30d") == key
        presets.append(
            {
                "key": key,
                "label": _("Last %(days)s days") % {"days": days},
                "url": "?" + urlencode(query),
                "active": active,
            }
        )
    return {
        "presets": presets,
        "from": params.get("from") or (period.first.isoformat() if period else ""),
        "to": params.get("to") or (period.last.isoformat() if period else ""),
        "grain": period.grain if period else params.get("grain", "day"),
        "grains": [("day", _("Day")), ("week", _("Week")), ("month", _("Month"))],
        "compare": params.get("compare") or "previous",
        "compare_from": params.get("compare_from", ""),
        "compare_to": params.get("compare_to", ""),
        "keep": keep,
        "zone": str(organisation_zone()),
    }


def _failed(request: HttpRequest, template: str, error: Exception, **extra: Any) -> HttpResponse:
    context = {
        "error": str(error),
        "picker": _picker(request, None),
        "can_schedule": can(request.user, "report", "schedule"),
        **extra,
    }
    return render(request, template, context, status=400)


# ---------------------------------------------------------------------------- drill-down links


def drill_url(
    kind: str, measure: str, period: Period, filters: Mapping[str, Any] | None = None
) -> str | None:
    """The list behind a figure, or ``None`` when the list cannot be narrowed like it."""
    query: dict[str, Any] = {"kind": kind, "measure": measure}
    query.update({"from": period.first.isoformat(), "to": period.last.isoformat()})
    for name, value in (filters or {}).items():
        if name not in LIST_COLUMNS[kind]:
            return None
        query[name] = "" if value is None else value
    return "/analytics/list/?" + urlencode(query)


def kpi_lists(
    kpi: Kpi, period: Period, filters: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The lists behind a KPI: its numerator's measures first (the cohort its number counts:
    the sent messages delivered since, for the delivery rate), then its denominator's (the
    sent messages). A KPI of two rollups (the reach rate: messages and tasks) has a list of
    each. ``key`` is the measure's "source.measure" in ``kpis.totals(...).sums``."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for role, measures in (("numerator", kpi.numerator), ("denominator", kpi.denominator)):
        for measure in measures:
            less = measure.startswith("-")
            owner, _dot, name = measure.lstrip("-").rpartition(".")
            source = owner or kpi.source
            url = drill_url(source, name, period, filters)
            if url is None or url in seen:
                continue
            seen.add(url)
            found.append(
                {
                    "role": role,
                    "less": less,
                    "key": f"{source}.{name}",
                    "label": f"{KIND_LABELS[source]}: {MEASURE_LABELS[(source, name)]}",
                    "url": url,
                }
            )
    return found


def kpi_drill(kpi: Kpi, period: Period, filters: Mapping[str, Any] | None = None) -> str | None:
    """A KPI's number leads to the rows its numerator counts (the cohort: the sent messages
    delivered since, for the delivery rate; the promoters, for NPS; the messages reaching the
    customer, for the reach rate, whose tasks are the card's second list)."""
    lists = kpi_lists(kpi, period, filters)
    return lists[0]["url"] if lists else None


# ---------------------------------------------------------------------------- exports


def export_links(request: HttpRequest, period: Period, table: str) -> dict[str, str] | None:
    """The CSV and Excel files of a page's table (``reports:export``, same period and table),
    for readers allowed to export; ``None`` for the others (agents)."""
    if not can(request.user, "report", "export"):
        return None
    base = reverse("reports:export") + "?"
    query = {"table": table, **period.as_params()}
    return {fmt: base + urlencode({**query, "format": fmt}) for fmt in ("csv", "xlsx")}


# ---------------------------------------------------------------------------- detractors


def _recovery_kinds() -> tuple[list[int], list[int]]:
    """The rules and questionnaire versions whose tasks are recovery calls."""
    rules = list(Rule.objects.filter(key=RECOVERY_RULE).values_list("pk", flat=True))
    versions = list(
        SurveyVersion.objects.filter(survey__key=RECOVERY_SURVEY).values_list("pk", flat=True)
    )
    return rules, versions


def _in_list(column: str, ids: Sequence[int]) -> tuple[str, list[int]]:
    if not ids:
        return "1 = 0", []
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _recovery_call(rules: Sequence[int], versions: Sequence[int]) -> tuple[str, list[int]]:
    """The condition on a task ``t`` of being a recovery call, and its parameters."""
    by_rule, rule_ids = _in_list("t.rule_id", rules)
    by_version, version_ids = _in_list("t.survey_version_id", versions)
    return f"({by_rule} OR {by_version})", [*rule_ids, *version_ids]


def _needing_call(lo: Any, hi: Any, scope: Scope) -> tuple[str, list[Any]]:
    """SQL counting the period's detractors who still need a call, and its parameters.

    The same rule as ``detractors`` (there, per answer in the order shown, stopping at the
    page's last row), here in one pass for the count: the period's detractors and the
    recovery calls opened since the period began, each answer paired with the first call
    opened at or after it by a window function. (A lookup of the tasks per answer took 1.1 s
    to count a month at 1,000,000 answers and 5,000,000 tasks: bench/analytics.py.)"""
    r, t = quoted_table(Response), quoted_table(Task)
    recovery, recovery_params = _recovery_call(*_recovery_kinds())
    open_marks = ", ".join(["%s"] * len(OPEN_TASK))
    sql = (
        "WITH d AS ("  # noqa: S608 (names are the models' tables; values are parameters)
        f" SELECT r.id, r.customer_id, r.submitted_at, r.team_id FROM {r} r"
        " WHERE r.submitted_at >= %s AND r.submitted_at < %s AND r.nps <= %s"
        " AND r.customer_id IS NOT NULL),"
        " f AS ("
        " SELECT d.id AS response_id, t.status, t.team_id, t.assignee_id,"
        " ROW_NUMBER() OVER (PARTITION BY d.id ORDER BY t.created_at, t.id) AS n"
        f" FROM d JOIN {t} t ON t.customer_id = d.customer_id"
        f" AND t.created_at >= d.submitted_at WHERE {recovery} AND t.created_at >= %s)"
        " SELECT COUNT(*) FROM d LEFT JOIN f ON f.response_id = d.id AND f.n = 1"
        f" WHERE (f.response_id IS NULL OR f.status IN ({open_marks}))"
    )
    params: list[Any] = [lo, hi, DETRACTOR_NPS, *recovery_params, lo, *OPEN_TASK]
    if scope.kind == TEAMS:
        teams = sorted(scope.teams)
        marks = ", ".join(["%s"] * len(teams)) or "NULL"
        sql += f" AND (d.team_id IN ({marks}) OR f.team_id IN ({marks}))"
        params += [*teams, *teams]
    elif scope.kind == OWN:
        sql += " AND f.assignee_id = %s"
        params.append(scope.agent_id)
    return sql, params


def detractor_count(period: Period, scope: Scope) -> int:
    """How many of the period's detractors still need a call (``detractors``'s rows)."""
    lo, hi = bounds(period)
    sql, params = _needing_call(lo, hi, scope)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def detractors(period: Period, scope: Scope) -> QuerySet[Response]:
    """The period's NPS detractors (0–6, submitted in the period) who still need a call: the
    first recovery task opened for the customer after the answer is open or in progress, or
    there is none. Worst score first, then the longest waiting.

    Read in that order from the partial index ``response_detractor_order`` (nps,
    submitted_at, id; nps ≤ 6), each answer's first recovery call looked up as it comes, so a
    page (the cockpit's first five) stops at its last row whatever the period. Count them with
    ``detractor_count``, the same rule in one pass.

    Narrowed to the reader's scope: a supervisor sees the detractors of their teams' answers
    or whose recovery task is with one of their teams; an agent those whose recovery task is
    assigned to them. (``detractor_rows`` finds each shown row's recovery task.)"""
    lo, hi = bounds(period)
    r, t = quoted_table(Response), quoted_table(Task)
    recovery, recovery_params = _recovery_call(*_recovery_kinds())

    def first(column: str) -> RawSQL:
        return RawSQL(  # noqa: S611 (names are the models' tables; values are parameters)
            f"SELECT t.{column} FROM {t} t WHERE t.customer_id = {r}.customer_id"  # noqa: S608
            f" AND t.created_at >= {r}.submitted_at AND {recovery}"
            " ORDER BY t.created_at, t.id LIMIT 1",
            recovery_params,
        )

    rows = (
        Response.objects.filter(
            submitted_at__gte=lo,
            submitted_at__lt=hi,
            nps__lte=DETRACTOR_NPS,
            customer__isnull=False,
        )
        .alias(recovery_status=first("status"))
        .filter(Q(recovery_status__isnull=True) | Q(recovery_status__in=OPEN_TASK))
    )
    if scope.kind == TEAMS:
        teams = sorted(scope.teams)
        rows = rows.alias(recovery_team=first("team_id")).filter(
            Q(team_id__in=teams) | Q(recovery_team__in=teams)
        )
    elif scope.kind == OWN:
        rows = rows.alias(recovery_assignee=first("assignee_id")).filter(
            recovery_assignee=scope.agent_id
        )
    return rows.select_related("customer", "version__survey").order_by("nps", "submitted_at", "pk")


class _Counted(Paginator):
    """A paginator told its count (``detractor_count``) rather than counting its rows."""

    def __init__(self, rows: Any, per_page: int, count: int) -> None:
        super().__init__(rows, per_page)
        self._known = count

    @property
    def count(self) -> int:  # type: ignore[override]
        return self._known


def _first_recovery(responses: Sequence[Response]) -> dict[int, Task]:
    """Each answer's recovery call: the first recovery task opened for its customer at or
    after the answer (read for the rows shown only)."""
    rules, versions = _recovery_kinds()
    if not responses or not (rules or versions):
        return {}
    tasks = (
        Task.objects.filter(
            Q(rule_id__in=rules) | Q(survey_version_id__in=versions),
            customer_id__in={r.customer_id for r in responses},
            created_at__gte=min(r.submitted_at for r in responses if r.submitted_at),
        )
        .select_related("assignee__staff_profile")
        .order_by("created_at", "pk")
    )
    first: dict[int, Task] = {}
    for response in responses:
        for task in tasks:
            if task.customer_id == response.customer_id and (
                response.submitted_at is not None and task.created_at >= response.submitted_at
            ):
                first[response.pk] = task
                break
    return first


def detractor_rows(responses: Sequence[Response]) -> list[dict[str, Any]]:
    """What the lists show of each detractor: the customer masked (name, phone ``138****``),
    the score, when, the open recovery task and its assignee."""
    tasks = _first_recovery(responses)
    rows = []
    for response in responses:
        task = tasks.get(response.pk)
        assignee = task.assignee if task is not None else None
        profile = getattr(assignee, "staff_profile", None) if assignee is not None else None
        customer = response.customer
        rows.append(
            {
                "pk": response.pk,
                "customer": customer.name if customer is not None else "—",
                "phone": customer.phone_masked if customer is not None else "—",
                "survey": response.version.survey,
                "nps": response.nps,
                "at": response.submitted_at,
                "task": task,
                "assignee": (profile or assignee) if assignee is not None else None,
            }
        )
    return rows


@requires("report", "view")
def detractor_list(request: HttpRequest) -> HttpResponse:
    """Every detractor of the period who still needs a call, 50 a page."""
    template = "analytics/detractors.html"
    try:
        period = period_from(request.GET, timezone.now())
    except PeriodError as error:
        return render(request, template, {"error": str(error)}, status=400)
    scope = scope_for(request.user)
    counted = _Counted(detractors(period, scope), PAGE_SIZE, detractor_count(period, scope))
    pager = counted.get_page(request.GET.get("page"))
    query = {k: v for k, v in request.GET.items() if k != "page"}
    context = {
        "period": period,
        "pager": pager,
        "rows": detractor_rows(list(pager)),
        "query": urlencode(query),
        "back": "/analytics/?" + urlencode(period.as_params()),
    }
    return render(request, template, context)


# ---------------------------------------------------------------------------- cockpit


def _chart_series(rows: Sequence[Row], keys: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "name": str(KPIS[key].label),
            "data": [
                None if r.values.get(key) is None else round(r.values[key] or 0, 2) for r in rows
            ],
        }
        for key in keys
    ]


@requires("report", "view")
def cockpit(request: HttpRequest) -> HttpResponse:
    template = "analytics/cockpit.html"
    try:
        period, against, compare = _periods(request)
    except PeriodError as error:
        return _failed(request, template, error)
    scope = scope_for(request.user)
    now = kpis.totals(period, scope)
    before = kpis.totals(against, scope)
    cards, hidden = [], []
    beside = {key for kpi in KPIS.values() for key in kpi.beside}
    for kpi in KPIS.values():
        if not readable(kpi, scope):
            hidden.append(kpi.label)
            continue
        if kpi.key in beside:
            continue  # on the card of the KPI it is shown beside
        value = now.values.get(kpi.key)
        lists = kpi_lists(kpi, period) if value is not None else []
        cards.append(
            {
                "key": kpi.key,
                "label": kpi.label,
                "help": kpi.help,
                "value": shown(kpi, value),
                "before": shown(kpi, before.values.get(kpi.key)),
                "change": change(kpi, value, before.values.get(kpi.key)),
                "url": lists[0]["url"] if lists else None,
                # The other lists behind it: "of 120 sent", the reach rate's tasks.
                "lists": [dict(item, count=now.sums.get(item["key"])) for item in lists[1:]],
                "beside": _beside(kpi, now, period),
            }
        )
    funnel = []
    top = 0
    for measure, label in FUNNEL:
        source, name = measure.split(".", 1)
        if not scope.everything and not _covers(source, scope):
            continue
        count = now.sums.get(measure, 0)
        top = top or count
        funnel.append(
            {
                "label": label,
                "count": count,
                "share": f"{100.0 * count / top:.1f}%" if top else "—",
                "url": drill_url(source, name, period) if count else None,
            }
        )
    # The conversion baseline and uplift are read on the cards and the rule pages, not as a
    # trend: a week's pool of unreached follow-ups of a rule is too few to chart.
    shown_keys = [k.key for k in KPIS.values() if readable(k, scope) and not k.strata]
    rows = kpis.trend(period, scope, kpis=shown_keys)
    rate_keys = [k for k in shown_keys if KPIS[k].unit == "rate"]
    count_keys = [k for k in shown_keys if KPIS[k].unit == "count"]
    nps_keys = [k for k in shown_keys if KPIS[k].unit == "score"]
    charts = {
        "labels": [r.label for r in rows],
        "empty": _("No figures in this period"),
        "rates": _chart_series(rows, rate_keys),
        "counts": _chart_series(rows, count_keys),
        "nps": _chart_series(rows, nps_keys),
        "funnel": [{"name": str(f["label"]), "value": f["count"]} for f in funnel],
    }
    trend_table = {
        "kpis": [KPIS[k] for k in shown_keys],
        "rows": [
            {"label": r.label, "cells": [shown(KPIS[k], r.values.get(k)) for k in shown_keys]}
            for r in rows
        ],
    }
    hotspots = _hotspots(period, scope, now.values)
    context = {
        "can_schedule": can(request.user, "report", "schedule"),
        "picker": _picker(request, period),
        "period": period,
        "against": against,
        "compare": compare,
        "cards": cards,
        "hidden": hidden,
        "funnel": funnel,
        "charts": charts,
        "trend_table": trend_table,
        "hotspots": hotspots,
        "detractors": detractor_rows(list(detractors(period, scope)[: DETRACTOR_ROWS + 1])),
        "detractor_rows": DETRACTOR_ROWS,
        "detractors_url": reverse("analytics:detractors") + "?" + urlencode(period.as_params()),
        "exports": {
            "totals": export_links(request, period, "totals"),
            "trend": export_links(request, period, "trend"),
        },
    }
    for table in (hotspots or {}).get("tables", ()):
        table["export"] = export_links(request, period, table["by"])
    return render(request, template, context)


def _beside(kpi: Kpi, now: Row, period: Period) -> list[dict[str, Any]]:
    """The figures a card shows beside its value (conversion: its baseline and the uplift),
    each leading to the rows its numerator counts."""
    found = []
    for key in kpi.beside:
        other = KPIS[key]
        value = now.values.get(key)
        found.append(
            {
                "key": key,
                "label": other.short or other.label,
                "title": f"{other.label}: {other.help}" if other.help else str(other.label),
                "value": shown(other, value),
                "url": kpi_drill(other, period) if value is not None else None,
            }
        )
    return found


def readable(kpi: Kpi, scope: Scope) -> bool:
    """Whether the KPI can be narrowed to the reader's scope: for an agent (their own tasks),
    only the rollups kept by agent can (``Kpi.available`` answers yes for every rollup)."""
    if scope.kind == OWN and kpi.source not in DIMENSIONS["agent"].columns:
        return False
    return kpi.available(scope)


def _covers(source: str, scope: Scope) -> bool:
    return any(k.source == source and readable(k, scope) for k in KPIS.values())


def _hotspots(
    period: Period, scope: Scope, totals: Mapping[str, float | None]
) -> dict[str, Any] | None:
    """Complaint hot spots: regions (and products, stores) ranked worst first, by the first
    of ``HOTSPOT_KPIS`` the reader can read that has figures by region in the period: the
    complaint rate where there were complaints, else NPS, else CSAT (a team without NPS
    answers is ranked by its CSAT rather than shown empty tables)."""
    candidates = [KPIS[k] for k in HOTSPOT_KPIS if k in KPIS and readable(KPIS[k], scope)]
    counted = [k for k in candidates if totals.get(k.key)]  # None or 0: nothing to rank by
    for ranked in counted:
        found = _hotspot_tables(period, scope, ranked)
        if any(table["rows"] for table in found["tables"]):
            return found
    return _hotspot_tables(period, scope, candidates[0]) if candidates else None


def _hotspot_tables(period: Period, scope: Scope, ranked: Kpi) -> dict[str, Any]:
    others = [
        k
        for k in KPIS.values()
        if k.key != ranked.key and k.source == ranked.source and readable(k, scope)
    ]
    columns = [ranked, *others[:3]]
    tables = []
    for by in (d for d in HOTSPOT_DIMENSIONS if d in DIMENSIONS):
        if ranked.source not in DIMENSIONS[by].columns:
            continue
        rows = [
            r
            for r in kpis.breakdown(period, scope, by, kpis=[k.key for k in columns])
            if r.values.get(ranked.key) is not None
        ]
        worst_high = not ranked.higher_is_better
        rows.sort(key=lambda r: r.values[ranked.key] or 0.0, reverse=worst_high)
        tables.append(
            {
                "by": by,
                "label": DIMENSIONS[by].label,
                "rows": [
                    {
                        "label": r.label,
                        "cells": [
                            {
                                "value": shown(k, r.values.get(k.key)),
                                "url": kpi_drill(k, period, {by: r.key}),
                            }
                            for k in columns
                        ],
                    }
                    for r in rows[:HOTSPOT_ROWS]
                ],
            }
        )
    return {"kpi": ranked, "columns": columns, "tables": tables}


# ---------------------------------------------------------------------------- performance


@requires("report", "view")
def performance(request: HttpRequest, page: str) -> HttpResponse:
    title, dimensions = PAGES[page]
    template = "analytics/performance.html"
    by = request.GET.get("by") or dimensions[0]
    tabs = [
        {
            "key": d,
            "label": DIMENSIONS[d].label,
            "active": d == by,
            "url": "?" + urlencode({"by": d}),
        }
        for d in dimensions
        if d in DIMENSIONS
    ]
    base = {"title": title, "page": page, "tabs": tabs}
    if by not in dimensions or by not in DIMENSIONS:
        return _failed(
            request, template, BadRequest(_("Unknown breakdown: %(by)s.") % {"by": by}), **base
        )
    try:
        period, _against, _compare = _periods(request)
    except PeriodError as error:
        return _failed(request, template, error, **base)
    scope = scope_for(request.user)
    dimension = DIMENSIONS[by]
    columns = [k for k in KPIS.values() if k.source in dimension.columns and readable(k, scope)]
    rows = kpis.breakdown(period, scope, by, kpis=[k.key for k in columns]) if columns else []
    sort = request.GET.get("sort") or ""
    descending = request.GET.get("dir", "desc") != "asc"
    if sort in {k.key for k in columns}:
        rows.sort(
            key=lambda r: (r.values.get(sort) is None, r.values.get(sort) or 0.0),
            reverse=False,
        )
        if descending:
            known = [r for r in rows if r.values.get(sort) is not None]
            rows = list(reversed(known)) + [r for r in rows if r.values.get(sort) is None]
    elif sort == "label":
        rows.sort(key=lambda r: r.label, reverse=descending)
    else:
        sort = ""
    query = dict(request.GET.items())
    headers = []
    for key, label in [("label", dimension.label)] + [(k.key, k.label) for k in columns]:
        flip = "asc" if sort == key and descending else "desc"
        headers.append(
            {
                "key": key,
                "label": label,
                "url": "?" + urlencode(dict(query, by=by, sort=key, dir=flip)),
                "sorted": ("desc" if descending else "asc") if sort == key else "",
            }
        )
    chart_kpi = (
        KPIS[sort]
        if sort in KPIS
        else next((k for k in columns if k.unit == "rate"), columns[0] if columns else None)
    )
    table = [
        {
            "label": r.label,
            "cells": [
                {
                    "value": shown(k, r.values.get(k.key)),
                    "url": kpi_drill(k, period, {by: r.key})
                    if r.values.get(k.key) is not None
                    else None,
                }
                for k in columns
            ],
        }
        for r in rows
    ]
    chart = {
        "labels": [r.label for r in rows],
        "name": str(chart_kpi.label) if chart_kpi else "",
        "data": [
            None
            if chart_kpi is None or r.values.get(chart_kpi.key) is None
            else round(r.values[chart_kpi.key] or 0.0, 2)
            for r in rows
        ],
        "empty": _("No figures in this period"),
    }
    context = {
        **base,
        "picker": _picker(request, period),
        "period": period,
        "by": by,
        "export": export_links(request, period, by),
        "can_schedule": can(request.user, "report", "schedule"),
        "headers": headers,
        "table": table,
        "chart": chart,
        "chart_kpi": chart_kpi,
        "hidden": [
            k.label
            for k in KPIS.values()
            if k.source in dimension.columns and not readable(k, scope)
        ],
    }
    return render(request, template, context)


# ---------------------------------------------------------------------------- drill-down list


@requires("report", "view")
def drill_list(request: HttpRequest) -> HttpResponse:
    template = "analytics/list.html"
    params = request.GET
    kind = params.get("kind") or MESSAGES
    measure = params.get("measure") or MEASURES.get(kind, ("",))[0]
    try:
        period = period_from(params, timezone.now())
        rows, described = drill_rows(kind, measure, period, params)
    except (BadRequest, PeriodError) as error:
        return render(request, template, {"error": str(error)}, status=400)
    scope = scope_for(request.user)
    narrowed = scoped(kind, rows, scope)
    pager, count = None, None
    if narrowed is not None:
        ordered = narrowed.select_related(*RELATED[kind])  # newest first (``measure_rows``)
        count = rollup_total(kind, measure, period, scope, params)
        if count is None:
            count = total(kind, measure, narrowed)
        # Pages of rows, not of holds: the held messages are counted apart.
        rows_count = count if (kind, measure) != (MESSAGES, "holds") else None
        paginator = (
            Paginator(ordered, PAGE_SIZE)
            if rows_count is None
            else _Counted(ordered, PAGE_SIZE, rows_count)
        )
        pager = paginator.get_page(params.get("page"))
    query = {k: v for k, v in params.items() if k != "page"}
    context = {
        "kind": kind,
        "kind_label": KIND_LABELS[kind],
        "measure": measure,
        "measure_label": MEASURE_LABELS[(kind, measure)],
        "holds": (kind, measure) == (MESSAGES, "holds"),
        "total": count,
        "period": period,
        "described": described,
        "pager": pager,
        "rows": _event_rows(list(pager)) if pager is not None and kind == EVENTS else None,
        "out_of_scope": narrowed is None,
        "query": urlencode(query),
        "back": "/analytics/?"
        + urlencode({"from": period.first.isoformat(), "to": period.last.isoformat()}),
    }
    return render(request, template, context)


def _event_rows(events: Sequence[Event]) -> list[dict[str, Any]]:
    """What the events list shows: the customer masked, the event's type by its label."""
    rows = []
    for event in events:
        known = resolve(event.type)
        rows.append(
            {
                "customer": event.customer,
                "type": known.label if known is not None else event.type,
                "at": event.occurred_at,
                "amount": event.amount,
            }
        )
    return rows
