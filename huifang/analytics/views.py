"""The analytics pages (数据分析): the management cockpit, team / channel / rule performance,
and the drill-down list behind every number.

Every figure comes from ``kpis`` (sums over the daily rollups); only the drill-down list reads
the raw messages, tasks and responses, a page of 50 at a time, narrowed to the reader's scope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import F, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huifang.accounts.permissions import can, requires
from huifang.customers.models import Event
from huifang.messaging.models import Click, Message
from huifang.organisation.zones import organisation_zone
from huifang.surveys.models import Response
from huifang.tasks.models import Task

from . import kpis
from .kpis import ANSWERS, DIMENSIONS, KPIS, MESSAGES, TASKS, Kpi, Row
from .periods import PRESETS, Period, PeriodError, period_from
from .rollup import REPLIED, _message_of, day_bounds
from .scope import OWN, TEAMS, Scope, scope_for

PAGE_SIZE = 50

# The funnel of the cockpit: (rollup measure "source.measure", label).
FUNNEL = (
    (f"{MESSAGES}.sent", gettext_lazy("Sent")),
    (f"{MESSAGES}.delivered", gettext_lazy("Delivered")),
    (f"{MESSAGES}.clicked", gettext_lazy("Clicked")),
    (f"{MESSAGES}.replied", gettext_lazy("Replied")),
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

# Drill-down: how each list is narrowed by a dimension (the raw rows' columns), which rows a
# rollup measure counts (``_measure_rows``), and which dimensions hold ids.
LIST_COLUMNS: dict[str, dict[str, str]] = {
    MESSAGES: {
        "team": "customer__owner__staff_profile__team_id",
        "rule": "rule_id",
        "step": "step",
        "channel": "channel",
        "provider": "provider_id",
        "province": "customer__province",
        "city": "customer__city",
        "business_line": "customer__business_line",
        "tier": "customer__tier",
    },
    TASKS: {"team": "team_id", "agent": "assignee_id", "rule": "rule_id", "step": "step"},
    ANSWERS: {
        "team": "team_id",
        "rule": "rule_id",
        "channel": "channel",
        "province": "customer__province",
        "city": "customer__city",
    },
}
ID_DIMENSIONS = frozenset({"team", "agent", "rule", "provider"})
MEASURES: dict[str, tuple[str, ...]] = {
    MESSAGES: (
        "sent", "created", "queued", "delivered", "failed", "dropped", "held", "clicked",
        "replied", "surveys",
    ),
    TASKS: (
        "opened", "done", "with_due", "on_time", "cancelled", "reached", "not_reached", "handled",
    ),
    ANSWERS: (
        "answered", "opened", "csat_n", "csat_ok", "nps_n", "promoters", "detractors", "ces_n",
    ),
}  # fmt: skip
MEASURE_LABELS = {
    (MESSAGES, "sent"): gettext_lazy("sent"),
    (MESSAGES, "created"): gettext_lazy("created"),
    (MESSAGES, "queued"): gettext_lazy("released"),
    (MESSAGES, "delivered"): gettext_lazy("delivered"),
    (MESSAGES, "failed"): gettext_lazy("failed"),
    (MESSAGES, "dropped"): gettext_lazy("dropped"),
    (MESSAGES, "held"): gettext_lazy("held"),
    (MESSAGES, "clicked"): gettext_lazy("clicked"),
    (MESSAGES, "replied"): gettext_lazy("replied"),
    (MESSAGES, "surveys"): gettext_lazy("carrying a questionnaire"),
    (TASKS, "opened"): gettext_lazy("opened"),
    (TASKS, "done"): gettext_lazy("done"),
    (TASKS, "with_due"): gettext_lazy("done, with a deadline"),
    (TASKS, "on_time"): gettext_lazy("done on time"),
    (TASKS, "cancelled"): gettext_lazy("cancelled"),
    (TASKS, "reached"): gettext_lazy("customer reached"),
    (TASKS, "not_reached"): gettext_lazy("customer not reached"),
    (TASKS, "handled"): gettext_lazy("done after being started"),
    (ANSWERS, "opened"): gettext_lazy("opened"),
    (ANSWERS, "answered"): gettext_lazy("submitted"),
    (ANSWERS, "csat_n"): gettext_lazy("with a CSAT score"),
    (ANSWERS, "csat_ok"): gettext_lazy("CSAT 4–5"),
    (ANSWERS, "nps_n"): gettext_lazy("with an NPS score"),
    (ANSWERS, "promoters"): gettext_lazy("promoters (9–10)"),
    (ANSWERS, "detractors"): gettext_lazy("detractors (0–6)"),
    (ANSWERS, "ces_n"): gettext_lazy("with a CES score"),
}
KIND_LABELS = {
    MESSAGES: gettext_lazy("Messages"),
    TASKS: gettext_lazy("Follow-up tasks"),
    ANSWERS: gettext_lazy("Questionnaire responses"),
}


class BadRequest(ValueError):
    """Input the page cannot use; the message is for the user."""


# ---------------------------------------------------------------------------- formatting


def shown(kpi: Kpi, value: float | None) -> str:
    """A KPI's value as a page shows it; "—" when there is nothing to count."""
    if value is None:
        return "—"
    if kpi.unit == "rate":
        return f"{value:.1f}%"
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
    elif kpi.unit == "rate":
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


def kpi_drill(kpi: Kpi, period: Period, filters: Mapping[str, Any] | None = None) -> str | None:
    """A KPI's number leads to the rows it counts: the rows of its numerator (the sent
    messages of "messages sent", the delivered ones of the delivery rate)."""
    measures = MEASURES.get(kpi.source, ())
    for measure in kpi.numerator + kpi.denominator:
        if measure in measures:
            return drill_url(kpi.source, measure, period, filters)
    return drill_url(kpi.source, measures[0], period, filters) if measures else None


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


def detractors(period: Period, scope: Scope) -> QuerySet[Response]:
    """The period's NPS detractors (0–6, submitted in the period) who still need a call: the
    first recovery task opened for the customer after the answer is open or in progress, or
    there is none. Worst score first, then the longest waiting.

    Read through the partial index ``survey_response_detractors`` (submitted_at, nps ≤ 6),
    each row's recovery task through ``task_customer_idx`` (customer, created_at).

    Narrowed to the reader's scope: a supervisor sees the detractors of their teams' answers
    or whose recovery task is with one of their teams; an agent those whose recovery task is
    assigned to them."""
    lo, hi = _bounds(period)
    recovery = Task.objects.filter(
        Q(rule__key=RECOVERY_RULE) | Q(survey_version__survey__key=RECOVERY_SURVEY),
        customer=OuterRef("customer"),
        created_at__gte=OuterRef("submitted_at"),
    ).order_by("created_at", "pk")
    rows = (
        Response.objects.filter(
            submitted_at__gte=lo,
            submitted_at__lt=hi,
            nps__lte=DETRACTOR_NPS,
            customer__isnull=False,
        )
        .annotate(
            recovery_id=Subquery(recovery.values("pk")[:1]),
            recovery_status=Subquery(recovery.values("status")[:1]),
            recovery_team=Subquery(recovery.values("team_id")[:1]),
            recovery_assignee=Subquery(recovery.values("assignee_id")[:1]),
        )
        .filter(Q(recovery_id__isnull=True) | Q(recovery_status__in=OPEN_TASK))
    )
    if scope.kind == TEAMS:
        teams = sorted(scope.teams)
        rows = rows.filter(Q(team_id__in=teams) | Q(recovery_team__in=teams))
    elif scope.kind == OWN:
        rows = rows.filter(recovery_assignee=scope.agent_id)
    return rows.select_related("customer", "version__survey").order_by("nps", "submitted_at", "pk")


def detractor_rows(responses: Sequence[Response]) -> list[dict[str, Any]]:
    """What the lists show of each detractor: the customer masked (name, phone ``138****``),
    the score, when, the open recovery task and its assignee."""
    ids = [r.recovery_id for r in responses if getattr(r, "recovery_id", None)]  # type: ignore[attr-defined]
    tasks = Task.objects.select_related("assignee__staff_profile").in_bulk(ids)
    rows = []
    for response in responses:
        task = tasks.get(getattr(response, "recovery_id", None) or 0)
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
    pager = Paginator(detractors(period, scope_for(request.user)), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
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
    for kpi in KPIS.values():
        if not readable(kpi, scope):
            hidden.append(kpi.label)
            continue
        value = now.values.get(kpi.key)
        cards.append(
            {
                "key": kpi.key,
                "label": kpi.label,
                "help": kpi.help,
                "value": shown(kpi, value),
                "before": shown(kpi, before.values.get(kpi.key)),
                "change": change(kpi, value, before.values.get(kpi.key)),
                "url": kpi_drill(kpi, period) if value is not None else None,
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
    rows = kpis.trend(period, scope)
    shown_keys = [k.key for k in KPIS.values() if readable(k, scope)]
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


def _bounds(period: Period) -> tuple[Any, Any]:
    return day_bounds(period.first)[0], day_bounds(period.last)[1]


def _measure_rows(kind: str, measure: str, period: Period) -> QuerySet[Any]:
    """The raw rows a rollup measure counts in the period, as ``rollup`` counts them."""
    lo, hi = _bounds(period)

    def within(field: str) -> Q:
        return Q(**{f"{field}__gte": lo, f"{field}__lt": hi})

    if kind == MESSAGES:
        rows: QuerySet[Any] = Message.objects.filter(customer__isnull=False)
        if measure == "clicked":
            clicks = Click.objects.filter(message=OuterRef("pk")).values("message")
            first = clicks.annotate(at=Min("clicked_at")).values("at")
            return rows.annotate(first_click=Subquery(first)).filter(within("first_click"))
        if measure == "replied":
            named, before = _message_of("e"), _message_of("e2")
            table = connection.ops.quote_name(Event._meta.db_table)
            sql = (
                f"SELECT {named} FROM {table} e WHERE e.type = %s"  # noqa: S608
                " AND e.occurred_at >= %s AND e.occurred_at < %s"
                f" AND NOT EXISTS (SELECT 1 FROM {table} e2 WHERE e2.customer_id = e.customer_id"
                f" AND e2.type = %s AND {before} = {named} AND e2.occurred_at < %s)"
            )
            adapt = connection.ops.adapt_datetimefield_value
            params = (REPLIED, adapt(lo), adapt(hi), REPLIED, adapt(lo))
            return rows.filter(pk__in=RawSQL(sql, params))  # noqa: S611 - no user input in sql
        simple = {
            "created": within("created_at"),
            "queued": within("queued_at"),
            "sent": within("sent_at"),
            "surveys": within("sent_at") & Q(survey_version__isnull=False),
            "delivered": within("delivered_at"),
            "dropped": Q(status="dropped") & within("planned_at"),
            "held": Q(holds__gt=0) & within("planned_at"),
        }
        if measure == "failed":
            rows = rows.annotate(failed_at=Coalesce("sent_at", "created_at"))
            return rows.filter(Q(status="failed") & within("failed_at"))
        return rows.filter(simple[measure])
    if kind == TASKS:
        closed = Q(status__in=["done", "cancelled"]) & within("closed_at")
        done = Q(status="done") & within("closed_at")
        task_filters = {
            "opened": within("created_at"),
            "done": done,
            "with_due": done & Q(due_at__isnull=False),
            "on_time": done & Q(closed_at__lte=F("due_at")),
            "cancelled": Q(status="cancelled") & within("closed_at"),
            "reached": closed & Q(outcome="reached"),
            "not_reached": closed & Q(outcome="not_reached"),
            "handled": done & Q(started_at__isnull=False),
        }
        return Task.objects.filter(task_filters[measure])
    submitted = within("submitted_at")
    answer_filters = {
        "opened": within("started_at"),
        "answered": submitted,
        "csat_n": submitted & Q(csat__isnull=False),
        "csat_ok": submitted & Q(csat__gte=4),
        "nps_n": submitted & Q(nps__isnull=False),
        "promoters": submitted & Q(nps__gte=9),
        "detractors": submitted & Q(nps__lte=6),
        "ces_n": submitted & Q(ces__isnull=False),
    }
    return Response.objects.filter(answer_filters[measure])


def _scoped(kind: str, rows: QuerySet[Any], scope: Scope) -> QuerySet[Any] | None:
    """The rows narrowed to the reader's scope; ``None`` when it cannot be (an agent's scope
    is their own tasks: messages and responses have no agent)."""
    if scope.everything:
        return rows
    if scope.kind == "teams":
        return rows.filter(**{f"{LIST_COLUMNS[kind]['team']}__in": sorted(scope.teams)})
    if kind == TASKS:
        return rows.filter(assignee_id=scope.agent_id)
    return None


def _narrowed(
    kind: str, rows: QuerySet[Any], params: Mapping[str, str]
) -> tuple[QuerySet[Any], list[str]]:
    """The rows narrowed by the dimension filters in ``params``, and their descriptions."""
    described = []
    for name, dimension in DIMENSIONS.items():
        if name not in params:
            continue
        column = LIST_COLUMNS[kind].get(name)
        if column is None:
            raise BadRequest(
                _("This list cannot be narrowed by %(dimension)s.") % {"dimension": dimension.label}
            )
        value: Any = params[name]
        if value == "":
            rows = rows.filter(
                **{f"{column}__isnull": True} if name in ID_DIMENSIONS else {column: ""}
            )
            described.append(f"{dimension.label}: {_('(none)')}")
            continue
        if name in ID_DIMENSIONS:
            try:
                value = int(value)
            except ValueError:
                raise BadRequest(
                    _("%(dimension)s is not a number: %(value)s")
                    % {"dimension": dimension.label, "value": params[name]}
                ) from None
        rows = rows.filter(**{column: value})
        label = kpis.labels_of(name, [value]).get(value, str(value))
        described.append(f"{dimension.label}: {label}")
    return rows, described


@requires("report", "view")
def drill_list(request: HttpRequest) -> HttpResponse:
    template = "analytics/list.html"
    params = request.GET
    kind = params.get("kind") or MESSAGES
    try:
        if kind not in MEASURES:
            raise BadRequest(_("Unknown list: %(kind)s.") % {"kind": kind})
        measure = params.get("measure") or MEASURES[kind][0]
        if measure not in MEASURES[kind]:
            raise BadRequest(_("Unknown figure: %(measure)s.") % {"measure": measure})
        period = period_from(params, timezone.now())
        rows, described = _narrowed(kind, _measure_rows(kind, measure, period), params)
    except (BadRequest, PeriodError) as error:
        return render(request, template, {"error": str(error)}, status=400)
    scoped = _scoped(kind, rows, scope_for(request.user))
    related = {
        MESSAGES: ("customer", "rule", "provider"),
        TASKS: ("customer", "assignee__staff_profile", "team"),
        ANSWERS: ("customer", "version__survey"),
    }[kind]
    pager = None
    if scoped is not None:
        ordered = scoped.select_related(*related).order_by("-pk")
        pager = Paginator(ordered, PAGE_SIZE).get_page(params.get("page"))
    query = {k: v for k, v in params.items() if k != "page"}
    context = {
        "kind": kind,
        "kind_label": KIND_LABELS[kind],
        "measure": measure,
        "measure_label": MEASURE_LABELS[(kind, measure)],
        "period": period,
        "described": described,
        "pager": pager,
        "out_of_scope": scoped is None,
        "query": urlencode(query),
        "back": "/analytics/?"
        + urlencode({"from": period.first.isoformat(), "to": period.last.isoformat()}),
    }
    return render(request, template, context)
