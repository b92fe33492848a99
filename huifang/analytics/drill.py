"""The drill-down lists: the raw rows behind every rollup measure a KPI reads.

``measure_rows(kind, measure, period)`` selects exactly the rows ``rollup`` counts for the
measure in the period: the same timestamp (organisation-local day bounds), the same conditions,
the same cohort subqueries (those are built from the rollup's own SQL fragments, so the list
and the figure cannot drift apart). ``narrowed`` applies the dimension filters of the rollup
(``kpis.DIMENSIONS``) to the raw rows, ``scoped`` the reader's scope; ``total`` is the list's
total, which equals the rollup's sum of the measure for the same period, scope and filters
(tests/analytics/test_drill.py).

Two measures are not row counts: ``holds`` counts the gate's defer decisions (a message held
twice counts twice; its list is the held messages and its total the holds), and the summed
``handling_seconds`` / ``ces_sum`` list the rows they sum over (``handled`` / ``ces_n``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection
from django.db.models import (
    BooleanField,
    CharField,
    Exists,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, NullIf
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huifang.customers.models import Event
from huifang.messaging.models import Click, Message
from huifang.surveys.models import Response
from huifang.tasks.models import Task

from . import kpis
from .kpis import ANSWERS, DIMENSIONS, EVENTS, MESSAGES, TASKS
from .periods import Period
from .rollup import (
    CONVERSION_DAYS,
    REPEAT_DAYS,
    REPLIED,
    REPLIES,
    REPLYABLE,
    RESOLVED_DAYS,
    UNREACHED_OUTCOMES,
    _keys,
    _message_of,
    _non_empty,
    _plus_days,
    day_bounds,
)
from .scope import Scope

PAGE_SIZE = 50


class BadRequest(ValueError):
    """Input the page cannot use; the message is for the user."""


def _category() -> Any:
    """The product category as the rollup keeps it: the customer's attribute, else the line."""
    attribute = KeyTextTransform("product_category", "customer__attributes")
    return Coalesce(
        NullIf(attribute, Value("")), F("customer__business_line"), output_field=CharField()
    )


# How each list is narrowed by a dimension: a path on the raw rows, or an expression where the
# rollup computes the value. The dimensions are those of the rollup (``kpis.DIMENSIONS``).
_CUSTOMER_DIMENSIONS: dict[str, Any] = {
    "team": "customer__owner__staff_profile__team_id",
    "province": "customer__province",
    "city": "customer__city",
    "business_line": "customer__business_line",
    "tier": "customer__tier",
    "source": "customer__source",
    "lifecycle_stage": "customer__lifecycle_stage",
    "product_category": _category,
    "owner": "customer__owner_id",
}
LIST_COLUMNS: dict[str, dict[str, Any]] = {
    MESSAGES: {
        **_CUSTOMER_DIMENSIONS,
        "rule": "rule_id",
        "step": "step",
        "channel": "channel",
        "provider": "provider_id",
        "reason": "reason",  # by measure: see ``_by_reason``
    },
    TASKS: {"team": "team_id", "agent": "assignee_id", "rule": "rule_id", "step": "step"},
    ANSWERS: {
        "team": "team_id",
        "rule": "rule_id",
        "channel": "channel",
        # A response without a customer is in the rollup's '' province and city.
        "province": lambda: Coalesce(F("customer__province"), Value(""), output_field=CharField()),
        "city": lambda: Coalesce(F("customer__city"), Value(""), output_field=CharField()),
    },
    EVENTS: dict(_CUSTOMER_DIMENSIONS),
}
ID_DIMENSIONS = frozenset({"team", "agent", "rule", "provider", "owner"})

# The summed measures list the rows they sum over.
SUMMED = {(TASKS, "handling_seconds"): "handled", (ANSWERS, "ces_sum"): "ces_n"}

MEASURES: dict[str, tuple[str, ...]] = {
    MESSAGES: (
        "sent", "created", "created_reached", "queued", "delivered", "failed", "dropped",
        "held", "holds", "clicked", "replied", "surveys", "sent_links", "sent_delivered",
        "sent_failed", "sent_clicked", "sent_replyable", "sent_replied", "survey_opened",
        "survey_answered",
    ),
    TASKS: (
        "opened", "created_done", "created_cancelled", "created_reached", "done", "with_due",
        "on_time", "cancelled", "reached", "not_reached", "handled", "handling_seconds",
        "first_contact", "converted_7", "converted_30", "converted_90", "scored", "scored_ok",
        "baseline_pool", "baseline_converted_7", "baseline_converted_30",
        "baseline_converted_90",
    ),
    ANSWERS: (
        "answered", "opened", "csat_n", "csat_ok", "nps_n", "promoters", "detractors", "ces_n",
        "ces_sum",
    ),
    EVENTS: ("complaints", "repeat_complaints", "purchases"),
}  # fmt: skip
MEASURE_LABELS = {
    (MESSAGES, "sent"): gettext_lazy("sent"),
    (MESSAGES, "created"): gettext_lazy("created"),
    (MESSAGES, "created_reached"): gettext_lazy("created, then reached the customer"),
    (MESSAGES, "queued"): gettext_lazy("released"),
    (MESSAGES, "delivered"): gettext_lazy("delivered"),
    (MESSAGES, "failed"): gettext_lazy("failed"),
    (MESSAGES, "dropped"): gettext_lazy("dropped"),
    (MESSAGES, "held"): gettext_lazy("held"),
    (MESSAGES, "holds"): gettext_lazy("held by the gate (each hold)"),
    (MESSAGES, "clicked"): gettext_lazy("clicked"),
    (MESSAGES, "replied"): gettext_lazy("replied"),
    (MESSAGES, "surveys"): gettext_lazy("carrying a questionnaire"),
    (MESSAGES, "sent_links"): gettext_lazy("sent with a link"),
    (MESSAGES, "sent_delivered"): gettext_lazy("sent, delivered since"),
    (MESSAGES, "sent_failed"): gettext_lazy("sent, failed since"),
    (MESSAGES, "sent_clicked"): gettext_lazy("sent with a link, clicked since"),
    (MESSAGES, "sent_replyable"): gettext_lazy("sent on a channel that takes replies"),
    (MESSAGES, "sent_replied"): gettext_lazy("sent, replied to since"),
    (MESSAGES, "survey_opened"): gettext_lazy("sent with a questionnaire, opened since"),
    (MESSAGES, "survey_answered"): gettext_lazy("sent with a questionnaire, answered since"),
    (TASKS, "opened"): gettext_lazy("opened"),
    (TASKS, "created_done"): gettext_lazy("opened, done since"),
    (TASKS, "created_cancelled"): gettext_lazy("opened, cancelled since"),
    (TASKS, "created_reached"): gettext_lazy("opened, customer reached since"),
    (TASKS, "done"): gettext_lazy("done"),
    (TASKS, "with_due"): gettext_lazy("done, with a deadline"),
    (TASKS, "on_time"): gettext_lazy("done on time"),
    (TASKS, "cancelled"): gettext_lazy("cancelled"),
    (TASKS, "reached"): gettext_lazy("customer reached"),
    (TASKS, "not_reached"): gettext_lazy("customer not reached"),
    (TASKS, "handled"): gettext_lazy("done after being started"),
    (TASKS, "handling_seconds"): gettext_lazy("done after being started (handling time)"),
    (TASKS, "first_contact"): gettext_lazy("resolved at the first contact"),
    (TASKS, "converted_7"): gettext_lazy("customer reached, a purchase within 7 days"),
    (TASKS, "converted_30"): gettext_lazy("customer reached, a purchase within 30 days"),
    (TASKS, "converted_90"): gettext_lazy("customer reached, a purchase within 90 days"),
    (TASKS, "scored"): gettext_lazy("done, scored by the agent"),
    (TASKS, "scored_ok"): gettext_lazy("done, scored 4–5 by the agent"),
    (TASKS, "baseline_pool"): gettext_lazy("closed, customer never reached"),
    (TASKS, "baseline_converted_7"): gettext_lazy("never reached, a purchase within 7 days"),
    (TASKS, "baseline_converted_30"): gettext_lazy("never reached, a purchase within 30 days"),
    (TASKS, "baseline_converted_90"): gettext_lazy("never reached, a purchase within 90 days"),
    (ANSWERS, "opened"): gettext_lazy("opened"),
    (ANSWERS, "answered"): gettext_lazy("submitted"),
    (ANSWERS, "csat_n"): gettext_lazy("with a CSAT score"),
    (ANSWERS, "csat_ok"): gettext_lazy("CSAT 4–5"),
    (ANSWERS, "nps_n"): gettext_lazy("with an NPS score"),
    (ANSWERS, "promoters"): gettext_lazy("promoters (9–10)"),
    (ANSWERS, "detractors"): gettext_lazy("detractors (0–6)"),
    (ANSWERS, "ces_n"): gettext_lazy("with a CES score"),
    (ANSWERS, "ces_sum"): gettext_lazy("with a CES score (summed)"),
    (EVENTS, "complaints"): gettext_lazy("complaints"),
    (EVENTS, "repeat_complaints"): gettext_lazy("repeat complaints (within 30 days)"),
    (EVENTS, "purchases"): gettext_lazy("purchases"),
}
KIND_LABELS = {
    MESSAGES: gettext_lazy("Messages"),
    TASKS: gettext_lazy("Follow-up tasks"),
    ANSWERS: gettext_lazy("Questionnaire responses"),
    EVENTS: gettext_lazy("Customer events"),
}
RELATED = {
    MESSAGES: ("customer", "rule", "provider"),
    TASKS: ("customer", "assignee__staff_profile", "team"),
    ANSWERS: ("customer", "version__survey"),
    EVENTS: ("customer",),
}


def bounds(period: Period) -> tuple[Any, Any]:
    return day_bounds(period.first)[0], day_bounds(period.last)[1]


def _q(name: str) -> str:
    return str(connection.ops.quote_name(name))


def quoted_table(model: Any) -> str:
    """``model``'s table, quoted for raw SQL."""
    return _q(model._meta.db_table)


def _raw(sql: str, params: tuple[Any, ...] = ()) -> RawSQL:
    """A condition on the row of the outer query (named by its table: the lists never alias
    their own table). ``sql`` holds table and column names and fixed expressions only."""
    return RawSQL(sql, params, output_field=BooleanField())  # noqa: S611 - no user input


def _defers(reason: str | None) -> RawSQL:
    """The number of the gate's defer decisions of a message (with ``reason``), as the rollup
    counts its holds."""
    m = quoted_table(Message)
    if connection.vendor == "postgresql":
        each = (
            f"jsonb_array_elements(CASE WHEN jsonb_typeof({m}.decisions) = 'array'"
            f" THEN {m}.decisions ELSE '[]'::jsonb END) AS d(value)"
        )
        action, why = "d.value ->> 'action'", "d.value ->> 'reason'"
    else:
        each = (
            f"json_each(CASE WHEN json_type({m}.decisions) = 'array' THEN {m}.decisions"
            " ELSE '[]' END) AS d"
        )
        action, why = "json_extract(d.value, '$.action')", "json_extract(d.value, '$.reason')"
    sql = f"(SELECT COUNT(*) FROM {each} WHERE {action} = 'defer'"  # noqa: S608
    params: tuple[Any, ...] = ()
    if reason is not None:
        sql += f" AND SUBSTR(COALESCE({why}, ''), 1, 20) = %s"  # the rollup's reason
        params = (reason,)
    return RawSQL(sql + ")", params, output_field=IntegerField())  # noqa: S611


def _message_rows(measure: str, within: Any, lo: Any, hi: Any, reason: str | None) -> QuerySet[Any]:
    rows: QuerySet[Any] = Message.objects.filter(customer__isnull=False)
    m, e = quoted_table(Message), quoted_table(Event)
    sent = within("sent_at")
    links = _raw(_non_empty(f"{m}.links"))
    replyable = Q(channel__in=REPLYABLE)
    ever_replied = _raw(
        f"EXISTS (SELECT 1 FROM {e} e WHERE e.customer_id = {m}.customer_id"  # noqa: S608
        f" AND e.type IN (%s, %s) AND {_message_of('e')} = {m}.id)",
        REPLIES,
    )
    response = Response.objects.filter(
        version_id=OuterRef("survey_version_id"),
        customer_id=OuterRef("customer_id"),
        message_id=OuterRef("pk"),
    )
    surveyed = sent & Q(survey_version__isnull=False)
    if measure == "clicked":  # on the day of its first click
        clicks = Click.objects.filter(message=OuterRef("pk")).values("message")
        first = clicks.annotate(at=Min("clicked_at")).values("at")
        return rows.annotate(first_click=Subquery(first)).filter(within("first_click"))
    if measure == "replied":  # on the day of its first reply
        named, before = _message_of("e"), _message_of("e2")
        sql = (
            f"SELECT {named} FROM {e} e WHERE e.type = %s"  # noqa: S608
            " AND e.occurred_at >= %s AND e.occurred_at < %s"
            f" AND NOT EXISTS (SELECT 1 FROM {e} e2 WHERE e2.customer_id = e.customer_id"
            f" AND e2.type = %s AND {before} = {named} AND e2.occurred_at < %s)"
        )
        adapt = connection.ops.adapt_datetimefield_value
        params = (REPLIED, adapt(lo), adapt(hi), REPLIED, adapt(lo))
        return rows.filter(pk__in=RawSQL(sql, params))  # noqa: S611 - no user input in sql
    if measure == "failed":
        rows = rows.annotate(failed_at=Coalesce("sent_at", "created_at"))
        return rows.filter(Q(status="failed") & within("failed_at"))
    if measure == "holds":
        held = rows.filter(within("created_at")).annotate(defers=_defers(reason))
        return held.filter(defers__gt=0)
    conditions = {
        "created": within("created_at"),
        "created_reached": within("created_at")
        & Q(sent_at__isnull=False, status__in=("sent", "delivered")),
        "queued": within("queued_at"),
        "sent": sent,
        "surveys": surveyed,
        "delivered": within("delivered_at"),
        "dropped": Q(status="dropped") & within("planned_at"),
        "held": Q(holds__gt=0) & within("planned_at"),
        "sent_links": sent & Q(links),
        "sent_delivered": sent & Q(delivered_at__isnull=False),
        "sent_failed": sent & Q(status="failed"),
        "sent_clicked": sent & Q(links) & Exists(Click.objects.filter(message=OuterRef("pk"))),
        "sent_replyable": sent & replyable,
        "sent_replied": sent & replyable & Q(ever_replied),
        "survey_opened": surveyed & Exists(response),
        "survey_answered": surveyed & Exists(response.filter(submitted_at__isnull=False)),
    }
    return rows.filter(conditions[measure])


def _task_rows(measure: str, within: Any) -> QuerySet[Any]:
    t, e = quoted_table(Task), quoted_table(Event)
    created = within("created_at")
    closed = Q(status__in=["done", "cancelled"]) & within("closed_at")
    done = Q(status="done") & within("closed_at")
    reached = closed & Q(outcome="reached")
    unreached = closed & Q(outcome__in=UNREACHED_OUTCOMES)

    def after_close(types: list[str], days: int) -> Q:
        """A complaint (purchase) of the task's customer within ``days`` of its closing."""
        listed = ", ".join(["%s"] * len(types)) or "NULL"
        return Q(
            _raw(
                f"EXISTS (SELECT 1 FROM {e} e WHERE e.customer_id = {t}.customer_id"  # noqa: S608
                f" AND e.type IN ({listed}) AND e.occurred_at > {t}.closed_at"
                f" AND e.occurred_at <= {_plus_days(f'{t}.closed_at', days)})",
                tuple(types),
            )
        )

    child = Exists(Task.objects.filter(parent_id=OuterRef("pk")))
    conditions = {
        "opened": created,
        "created_done": created & Q(status="done"),
        "created_cancelled": created & Q(status="cancelled"),
        "created_reached": created & Q(outcome__in=("reached", "call_back")),
        "done": done,
        "with_due": done & Q(due_at__isnull=False),
        "on_time": done & Q(closed_at__lte=F("due_at")),
        "cancelled": Q(status="cancelled") & within("closed_at"),
        "reached": reached,
        "not_reached": closed & Q(outcome="not_reached"),
        "handled": done & Q(started_at__isnull=False),
        "first_contact": done
        & Q(outcome="reached", attempts=1)
        & ~child
        & ~after_close(_keys("is_complaint"), RESOLVED_DAYS),
        "scored": done & Q(score__isnull=False),
        "scored_ok": done & Q(score__gte=4),
        "baseline_pool": unreached,
    }
    for days in CONVERSION_DAYS:
        bought = after_close(_keys("is_purchase"), days)
        conditions[f"converted_{days}"] = reached & bought
        conditions[f"baseline_converted_{days}"] = unreached & bought
    return Task.objects.filter(conditions[measure])


def _answer_rows(measure: str, within: Any) -> QuerySet[Any]:
    submitted = within("submitted_at")
    conditions = {
        "opened": within("started_at"),
        "answered": submitted,
        "csat_n": submitted & Q(csat__isnull=False),
        "csat_ok": submitted & Q(csat__gte=4),
        "nps_n": submitted & Q(nps__isnull=False),
        "promoters": submitted & Q(nps__gte=9),
        "detractors": submitted & Q(nps__lte=6),
        "ces_n": submitted & Q(ces__isnull=False),
    }
    return Response.objects.filter(conditions[measure])


def _event_rows(measure: str, within: Any) -> QuerySet[Any]:
    rows = Event.objects.filter(customer__isnull=False)
    complaint = Q(type__in=_keys("is_complaint")) & within("occurred_at")
    if measure == "purchases":
        return rows.filter(Q(type__in=_keys("is_purchase")) & within("occurred_at"))
    if measure == "repeat_complaints":
        e = quoted_table(Event)
        types = _keys("is_complaint")
        listed = ", ".join(["%s"] * len(types)) or "NULL"
        before = _raw(
            f"EXISTS (SELECT 1 FROM {e} e2 WHERE e2.customer_id = {e}.customer_id"  # noqa: S608
            f" AND e2.type IN ({listed}) AND e2.occurred_at < {e}.occurred_at"
            f" AND {_plus_days('e2.occurred_at', REPEAT_DAYS)} >= {e}.occurred_at)",
            tuple(types),
        )
        return rows.filter(complaint & Q(before))
    return rows.filter(complaint)


def measure_rows(
    kind: str, measure: str, period: Period, reason: str | None = None
) -> QuerySet[Any]:
    """The raw rows a rollup measure counts in the period, as ``rollup`` counts them (the
    holds: those of ``reason``, each message annotated with its number of holds)."""
    lo, hi = bounds(period)
    measure = SUMMED.get((kind, measure), measure)

    def within(name: str) -> Q:
        return Q(**{f"{name}__gte": lo, f"{name}__lt": hi})

    if kind == MESSAGES:
        rows = _message_rows(measure, within, lo, hi, reason)
    elif kind == TASKS:
        rows = _task_rows(measure, within)
    elif kind == ANSWERS:
        rows = _answer_rows(measure, within)
    else:
        rows = _event_rows(measure, within)
    moment = _COUNTED_AT.get((kind, measure))
    return rows.order_by(f"-{moment}", "-pk") if moment else rows.order_by("-pk")


# Newest first by the moment a list's measure counts its rows on, read backwards along that
# moment's day index, which stops at the page's last row. (By id, SQLite read a year of the
# ``sent_at`` index and sorted it: 1.4 s at 1,000,000 messages.) Lists not named here (the
# cohorts of other moments, first clicks, failures) are by id.
_COUNTED_AT = {
    **{(MESSAGES, m): "created_at" for m in ("created", "created_reached")},
    (MESSAGES, "queued"): "queued_at",
    (MESSAGES, "sent"): "sent_at",
    (MESSAGES, "delivered"): "delivered_at",
    (TASKS, "opened"): "created_at",
    (TASKS, "done"): "closed_at",
    (ANSWERS, "answered"): "submitted_at",
    **{(EVENTS, m): "occurred_at" for m in MEASURES[EVENTS]},
}


def scoped(kind: str, rows: QuerySet[Any], scope: Scope) -> QuerySet[Any] | None:
    """The rows narrowed to the reader's scope; ``None`` when it cannot be (an agent's scope
    is their own tasks: messages, responses and events have no agent)."""
    if scope.everything:
        return rows
    if scope.kind == "teams":
        return rows.filter(**{f"{LIST_COLUMNS[kind]['team']}__in": sorted(scope.teams)})
    if kind == TASKS:
        return rows.filter(assignee_id=scope.agent_id)
    return None


def _by_reason(rows: QuerySet[Any], measure: str, value: str) -> QuerySet[Any]:
    """The rollup keeps a reason for drops (the message's) and holds (each decision's); every
    other count is kept under no reason ('')."""
    if measure == "dropped":
        return rows.filter(reason=value)
    if measure == "holds":  # counted by ``measure_rows``: each hold has its own reason
        return rows
    return rows if value == "" else rows.none()


def filter_values(kind: str, params: Mapping[str, str]) -> dict[str, Any]:
    """The dimension filters of ``params`` that the list of ``kind`` can apply, typed as the
    rollup keeps them (an id dimension's value an int, '' for none)."""
    values: dict[str, Any] = {}
    for name, dimension in DIMENSIONS.items():
        if name not in params:
            continue
        if LIST_COLUMNS[kind].get(name) is None:
            raise BadRequest(
                _("This list cannot be narrowed by %(dimension)s.") % {"dimension": dimension.label}
            )
        value: Any = params[name]
        if name in ID_DIMENSIONS and value != "":
            try:
                value = int(value)
            except ValueError:
                raise BadRequest(
                    _("%(dimension)s is not a number: %(value)s")
                    % {"dimension": dimension.label, "value": params[name]}
                ) from None
        values[name] = value
    return values


def narrowed(
    kind: str, measure: str, rows: QuerySet[Any], params: Mapping[str, str]
) -> tuple[QuerySet[Any], list[str]]:
    """The rows narrowed by the dimension filters in ``params``, and their descriptions."""
    described = []
    for name, value in filter_values(kind, params).items():
        column = LIST_COLUMNS[kind][name]
        if name == "reason" and kind == MESSAGES:
            rows = _by_reason(rows, measure, value)
        elif callable(column):
            alias = f"dim_{name}"
            rows = rows.alias(**{alias: column()}).filter(**{alias: value})
        elif value == "" and name in ID_DIMENSIONS:
            rows = rows.filter(**{f"{column}__isnull": True})
        else:
            rows = rows.filter(**{column: value})
        label = kpis.labels_of(name, [value]).get(value, str(value))
        described.append(f"{DIMENSIONS[name].label}: {label}")
    return rows, described


def total(kind: str, measure: str, rows: QuerySet[Any]) -> int:
    """The list's total counted over its rows: the rows, or for ``holds`` the gate's holds of
    its messages. (The page reads ``rollup_total`` instead where the rollup can say.)"""
    if (kind, measure) == (MESSAGES, "holds"):
        return int(rows.aggregate(n=Sum("defers"))["n"] or 0)
    return rows.count()


def rollup_total(
    kind: str, measure: str, period: Period, scope: Scope, params: Mapping[str, str]
) -> int | None:
    """The list's total as the rollup keeps it — the figure the list was opened from, equal to
    ``total`` of its rows as of the last refresh (tests/analytics/test_drill.py) and read from
    a few rollup rows instead of counting a year of the outbox (3.2 s at 10,000,000 messages).
    ``None`` when the rollup cannot be narrowed to the scope."""
    counted = SUMMED.get((kind, measure), measure)
    return kpis.measure_total(kind, counted, period, scope, filter_values(kind, params))


def drill_rows(
    kind: str, measure: str, period: Period, params: Mapping[str, str]
) -> tuple[QuerySet[Any], list[str]]:
    """The list of ``measure`` in the period, narrowed by the dimension filters of ``params``
    (not yet by the reader's scope), and the filters' descriptions."""
    if kind not in MEASURES:
        raise BadRequest(_("Unknown list: %(kind)s.") % {"kind": kind})
    if measure not in MEASURES[kind]:
        raise BadRequest(_("Unknown figure: %(measure)s.") % {"measure": measure})
    reason = params.get("reason") if kind == MESSAGES else None
    return narrowed(kind, measure, measure_rows(kind, measure, period, reason), params)
