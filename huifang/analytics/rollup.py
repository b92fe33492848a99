"""Keeping the daily rollups: a day at a time, in set-based SQL, on SQLite and PostgreSQL.

``rollup_day(day)`` rewrites one organisation-local day of every rollup table: it deletes the
day's rows and inserts them again from one ``INSERT … SELECT … GROUP BY`` per table, each
count selected by its own timestamp falling within the day. Doing it twice gives the same
rows, so every caller may simply redo a day it is unsure of.

``refresh(now)`` (the worker, every minute) finds the days that may have changed since its last
run and redoes only those:

- the days of every timestamp of rows added since then (ids above each source's watermark,
  so a back-dated import lands on its own day);
- every day from the last run to ``now``, and the ``HUIFANG_ANALYTICS_RECENT_DAYS`` - 1 days
  before it: any timestamp set since the last run (sent, delivered, closed …) falls on them,
  and so do the counts of changes that move no timestamp (a carrier's failure receipt, a drop
  by the gate, a hold, a delivery receipt dated before the last run) when they come within
  that many days of the day they count on — however long the worker was down;
- for a late click or reply, the days of the other clicks (replies) of the same message
  (customer): the first one, which the count is attributed to, may have changed;
- the days of tasks saved since then (``Task.updated_at``).

A change that moves no timestamp on a row older than that window (or a deleted customer's
cascade) is only seen by ``rebuild``; the worker rebuilds the last ``REBUILD_DAYS`` days every
night for that reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min

from huifang.accounts.models import StaffProfile
from huifang.customers.event_types import event_types
from huifang.customers.models import Customer, Event
from huifang.engine.models import Enrollment
from huifang.messaging.models import Click, Message
from huifang.organisation.zones import organisation_zone
from huifang.surveys.models import Response
from huifang.tasks.models import Task

from .models import (
    AnswerCutDay,
    AnswerDay,
    DecisionDay,
    EnrollmentDay,
    MessageDay,
    RuleStepDay,
    TaskDay,
    Watermark,
)

# A row committed a little after the last run read the sources may carry a timestamp from just
# before it: the days redone start this much before the last run.
SLACK = timedelta(minutes=10)
# The nightly rebuild's reach (changes that move no timestamp, on older rows).
REBUILD_DAYS = 7
REPLIED = "message_replied"


@dataclass(frozen=True)
class Rebuilt:
    days: list[date]
    rows: int


def local_day(moment: datetime) -> date:
    return moment.astimezone(organisation_zone()).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC moments the organisation-local ``day`` begins and ends (next day's start)."""
    here = organisation_zone()
    start = datetime.combine(day, time(0), tzinfo=here).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=here).astimezone(UTC)
    return start, end


# --- one day -----------------------------------------------------------------------------


def _table(model: Any) -> str:
    return str(model._meta.db_table)


def _message_of(alias: str) -> str:
    """The message id a reply event names (``properties.message``), NULL when it names none."""
    if connection.vendor == "postgresql":
        return (
            f"CASE WHEN jsonb_typeof({alias}.properties -> 'message') = 'number' "
            f"THEN ({alias}.properties ->> 'message')::bigint END"
        )
    return (
        f"CASE WHEN json_type({alias}.properties, '$.message') = 'integer' "
        f"THEN json_extract({alias}.properties, '$.message') END"
    )


def _seconds(start: str, end: str) -> str:
    if connection.vendor == "postgresql":
        return f"ROUND(EXTRACT(EPOCH FROM ({end} - {start})))::bigint"
    return f"CAST(ROUND((julianday({end}) - julianday({start})) * 86400) AS INTEGER)"


@dataclass(frozen=True)
class _Part:
    """One SELECT of the UNION: the rows some counts are attributed to this day by."""

    values: dict[str, str]  # measure → SQL expression (the others are 0)
    where: str
    params: Sequence[Any]
    dims: dict[str, str] = field(default_factory=dict)  # a dimension's own expression here


# Every name put into the SQL below is a table or column of the models or a fixed
# expression; every value is a parameter.
def _rewrite(
    cursor: Any,
    model: Any,
    dims: dict[str, str],
    measures: Sequence[str],
    source: str,
    parts: Iterable[_Part],
    day: date,
) -> int:
    """Delete ``day``'s rows of ``model`` and insert them again from ``parts``."""
    table = _table(model)
    keys = list(dims)
    selects: list[str] = []
    params: list[Any] = []
    for part in parts:
        columns = [f"{part.dims.get(name, expr)} AS {name}" for name, expr in dims.items()]
        columns += [f"{part.values.get(m, '0')} AS {m}" for m in measures]
        selects.append(f"SELECT {', '.join(columns)} {source} WHERE {part.where}")
        params.extend(part.params)
    names = ", ".join(keys + list(measures))
    sums = ", ".join(keys + [f"SUM({m})" for m in measures])
    stored = connection.ops.adapt_datefield_value(day)
    cursor.execute(f"DELETE FROM {table} WHERE day = %s", [stored])  # noqa: S608
    cursor.execute(
        f"INSERT INTO {table} (day, {names}) SELECT %s, {sums} FROM ("  # noqa: S608
        + " UNION ALL ".join(selects)
        + f") u GROUP BY {', '.join(keys)}",
        [stored, *params],
    )
    return max(int(cursor.rowcount or 0), 0)


MESSAGE_MEASURES = (
    "created", "queued", "sent", "delivered", "failed", "dropped", "held", "clicked", "replied",
    "surveys",
)  # fmt: skip
TASK_MEASURES = (
    "opened", "done", "with_due", "on_time", "cancelled", "reached", "not_reached", "handled",
    "handling_seconds",
)  # fmt: skip
ANSWER_MEASURES = (
    "opened", "answered", "csat_n", "csat_ok", "nps_n", "promoters", "detractors", "ces_n",
    "ces_sum",
)  # fmt: skip


def _in(column: str) -> str:
    return f"{column} >= %s AND {column} < %s"


def _messages(cursor: Any, day: date, lo: Any, hi: Any) -> int:
    """Customer messages: each count by its own timestamp; drops by reason."""
    m, c, p = _table(Message), _table(Customer), _table(StaffProfile)
    k, e = _table(Click), _table(Event)
    dims = {
        "rule_id": "m.rule_id",
        "step": "m.step",
        "channel": "m.channel",
        "provider_id": "m.provider_id",
        "team_id": "p.team_id",
        "province": "c.province",
        "city": "c.city",
        "business_line": "c.business_line",
        "tier": "c.tier",
        "reason": "''",
    }
    source = (
        f"FROM {m} m JOIN {c} c ON c.id = m.customer_id LEFT JOIN {p} p ON p.user_id = c.owner_id"
    )
    # A message counts as clicked (replied) on the day of its first click (reply).
    clicked = (
        f"m.id IN (SELECT k.message_id FROM {k} k WHERE {_in('k.clicked_at')}"  # noqa: S608
        f" AND NOT EXISTS (SELECT 1 FROM {k} k2 WHERE k2.message_id = k.message_id"
        " AND k2.clicked_at < %s))"
    )
    named, named_before = _message_of("e"), _message_of("e2")
    replied = (
        f"m.id IN (SELECT {named} FROM {e} e WHERE e.type = %s AND {_in('e.occurred_at')}"  # noqa: S608
        f" AND NOT EXISTS (SELECT 1 FROM {e} e2 WHERE e2.customer_id = e.customer_id"
        f" AND e2.type = %s AND {named_before} = {named} AND e2.occurred_at < %s))"
    )
    survey = "CASE WHEN m.survey_version_id IS NULL THEN 0 ELSE 1 END"
    parts = [
        _Part({"created": "1"}, _in("m.created_at"), [lo, hi]),
        _Part({"queued": "1"}, _in("m.queued_at"), [lo, hi]),
        _Part({"sent": "1", "surveys": survey}, _in("m.sent_at"), [lo, hi]),
        _Part({"delivered": "1"}, _in("m.delivered_at"), [lo, hi]),
        _Part(
            {"failed": "1"},
            "m.status = 'failed' AND " + _in("COALESCE(m.sent_at, m.created_at)"),
            [lo, hi],
        ),
        _Part(
            {"dropped": "1"},
            "m.status = 'dropped' AND " + _in("m.planned_at"),
            [lo, hi],
            dims={"reason": "m.reason"},
        ),
        _Part({"held": "1"}, "m.holds > 0 AND " + _in("m.planned_at"), [lo, hi]),
        _Part({"clicked": "1"}, clicked, [lo, hi, lo]),
        _Part({"replied": "1"}, replied, [REPLIED, lo, hi, REPLIED, lo]),
    ]
    return _rewrite(cursor, MessageDay, dims, MESSAGE_MEASURES, source, parts, day)


def _tasks(cursor: Any, day: date, lo: Any, hi: Any) -> int:
    """Tasks: opened by ``created_at``; closed ones (done, cancelled) by ``closed_at``."""
    dims = {"team_id": "t.team_id", "assignee_id": "t.assignee_id", "rule_id": "t.rule_id"}
    dims["step"] = "t.step"
    done = "t.status = 'done'"
    started = f"{done} AND t.started_at IS NOT NULL"
    closed = {
        "done": f"CASE WHEN {done} THEN 1 ELSE 0 END",
        "with_due": f"CASE WHEN {done} AND t.due_at IS NOT NULL THEN 1 ELSE 0 END",
        "on_time": f"CASE WHEN {done} AND t.closed_at <= t.due_at THEN 1 ELSE 0 END",
        "cancelled": "CASE WHEN t.status = 'cancelled' THEN 1 ELSE 0 END",
        "reached": "CASE WHEN t.outcome = 'reached' THEN 1 ELSE 0 END",
        "not_reached": "CASE WHEN t.outcome = 'not_reached' THEN 1 ELSE 0 END",
        "handled": f"CASE WHEN {started} THEN 1 ELSE 0 END",
        "handling_seconds": (
            f"CASE WHEN {started} THEN {_seconds('t.started_at', 't.closed_at')} ELSE 0 END"
        ),
    }
    parts = [
        _Part({"opened": "1"}, _in("t.created_at"), [lo, hi]),
        _Part(closed, "t.status IN ('done', 'cancelled') AND " + _in("t.closed_at"), [lo, hi]),
    ]
    source = f"FROM {_table(Task)} t"
    return _rewrite(cursor, TaskDay, dims, TASK_MEASURES, source, parts, day)


def _answers(cursor: Any, day: date, lo: Any, hi: Any) -> int:
    """Questionnaire responses: opened by ``started_at``, answered and scores by
    ``submitted_at``."""
    dims = {
        "version_id": "r.version_id",
        "channel": "r.channel",
        "rule_id": "r.rule_id",
        "team_id": "r.team_id",
        "province": "COALESCE(c.province, '')",
        "city": "COALESCE(c.city, '')",
    }
    scores = {
        "answered": "1",
        "csat_n": "CASE WHEN r.csat IS NULL THEN 0 ELSE 1 END",
        "csat_ok": "CASE WHEN r.csat >= 4 THEN 1 ELSE 0 END",
        "nps_n": "CASE WHEN r.nps IS NULL THEN 0 ELSE 1 END",
        "promoters": "CASE WHEN r.nps >= 9 THEN 1 ELSE 0 END",
        "detractors": "CASE WHEN r.nps <= 6 THEN 1 ELSE 0 END",
        "ces_n": "CASE WHEN r.ces IS NULL THEN 0 ELSE 1 END",
        "ces_sum": "COALESCE(r.ces, 0)",
    }
    parts = [
        _Part({"opened": "1"}, _in("r.started_at"), [lo, hi]),
        _Part(scores, _in("r.submitted_at"), [lo, hi]),
    ]
    source = f"FROM {_table(Response)} r LEFT JOIN {_table(Customer)} c ON c.id = r.customer_id"
    return _rewrite(cursor, AnswerDay, dims, ANSWER_MEASURES, source, parts, day)


def _reply_kinds() -> list[str]:
    """The event types that are an answer from the customer (``EventType.is_reply``)."""
    return sorted(entry.key for entry in event_types if entry.is_reply)


def _named_message(alias: str) -> str:
    """The message id an answer names, as the rule dashboard always read it: a whole number,
    also when typed as a string into an API event (NULL otherwise, never a failed cast)."""
    if connection.vendor == "postgresql":
        return (
            f"CASE WHEN {alias}.properties ->> 'message' ~ '^[0-9]{{1,18}}$' "
            f"THEN ({alias}.properties ->> 'message')::bigint END"
        )
    return f"CAST(json_extract({alias}.properties, '$.message') AS INTEGER)"


def _rewrite_from(
    cursor: Any,
    model: Any,
    dims: dict[str, str],
    measures: Sequence[str],
    parts: Sequence[tuple[str, _Part]],
    day: date,
) -> int:
    """``_rewrite`` for parts that each read their own source (``FROM …``)."""
    table = _table(model)
    selects: list[str] = []
    params: list[Any] = []
    for source, part in parts:
        columns = [f"{part.dims.get(name, expr)} AS {name}" for name, expr in dims.items()]
        columns += [f"{part.values.get(m, '0')} AS {m}" for m in measures]
        selects.append(f"SELECT {', '.join(columns)} {source} WHERE {part.where}")
        params.extend(part.params)
    keys = ", ".join(dims)
    sums = ", ".join([*dims, *(f"SUM({m})" for m in measures)])
    stored = connection.ops.adapt_datefield_value(day)
    cursor.execute(f"DELETE FROM {table} WHERE day = %s", [stored])  # noqa: S608
    cursor.execute(
        f"INSERT INTO {table} (day, {keys}, {', '.join(measures)}) SELECT %s, {sums} FROM ("  # noqa: S608
        + " UNION ALL ".join(selects)
        + f") u GROUP BY {keys}",
        [stored, *params],
    )
    return max(int(cursor.rowcount or 0), 0)


def _dashboard(cursor: Any, day: date, lo: Any, hi: Any) -> int:
    """What the rule dashboard reads: enrollments entered (``started_at``) and finished
    (``ended_at``, by status and reason); rules' messages sent, delivered and answered (the
    day of the first answer) and tasks done; the gate's holds and drops by reason, on the day
    the message was written."""
    written = 0
    enrollments = f"FROM {_table(Enrollment)} n"
    dims = {
        "rule_id": "n.rule_id",
        "version_id": "n.version_id",
        "step": "n.step",
        "status": "''",
        "reason": "''",
    }
    parts = [
        _Part({"entered": "1"}, _in("n.started_at"), [lo, hi]),
        _Part(
            {"finished": "1"},
            _in("n.ended_at"),
            [lo, hi],
            dims={"status": "n.status", "reason": "n.end_reason"},
        ),
    ]
    written += _rewrite(
        cursor, EnrollmentDay, dims, ("entered", "finished"), enrollments, parts, day
    )

    kinds = _reply_kinds() or [""]
    marks = ", ".join(["%s"] * len(kinds))
    named, named_before = _named_message("e"), _named_message("e2")
    answers = (
        f"FROM {_table(Event)} e JOIN {_table(Message)} m "
        f"ON m.id = {named} AND m.customer_id = e.customer_id"
    )
    # Only the message's first answer (the earliest, the lowest id among equals) counts.
    first = (
        f"e.type IN ({marks}) AND {_in('e.occurred_at')} AND m.rule_id IS NOT NULL"  # noqa: S608
        f" AND NOT EXISTS (SELECT 1 FROM {_table(Event)} e2"
        f" WHERE e2.customer_id = e.customer_id AND e2.type IN ({marks})"
        f" AND {named_before} = m.id AND (e2.occurred_at < e.occurred_at"
        " OR (e2.occurred_at = e.occurred_at AND e2.id < e.id)))"
    )
    messages, tasks = f"FROM {_table(Message)} m", f"FROM {_table(Task)} t"
    of_rule = "m.rule_id IS NOT NULL AND "
    written += _rewrite_from(
        cursor,
        RuleStepDay,
        {"rule_id": "m.rule_id", "step": "m.step", "channel": "m.channel"},
        ("sent", "delivered", "replied", "tasks_done"),
        [
            (messages, _Part({"sent": "1"}, of_rule + _in("m.sent_at"), [lo, hi])),
            (messages, _Part({"delivered": "1"}, of_rule + _in("m.delivered_at"), [lo, hi])),
            (answers, _Part({"replied": "1"}, first, [*kinds, lo, hi, *kinds])),
            (
                tasks,
                _Part(
                    {"tasks_done": "1"},
                    "t.rule_id IS NOT NULL AND t.status = 'done' AND " + _in("t.closed_at"),
                    [lo, hi],
                    dims={"rule_id": "t.rule_id", "step": "t.step", "channel": "''"},
                ),
            ),
        ],
        day,
    )

    m = _table(Message)
    if connection.vendor == "postgresql":
        decisions = f"FROM {m} m CROSS JOIN LATERAL jsonb_array_elements(m.decisions) AS d(value)"
        action, reason = "d.value ->> 'action'", "d.value ->> 'reason'"
        array = "jsonb_typeof(m.decisions) = 'array'"
    else:
        decisions = f"FROM {m} m, json_each(m.decisions) AS d"
        action, reason = "json_extract(d.value, '$.action')", "json_extract(d.value, '$.reason')"
        array = "json_type(m.decisions) = 'array'"
    # Only messages ever held or dropped (``holds``; a drop and the dispatcher's last-moment
    # hold leave their ``reason``) have such decisions.
    held = (
        f"m.rule_id IS NOT NULL AND (m.holds > 0 OR m.reason > '') AND {_in('m.created_at')}"
        f" AND {array} AND {action} IN ('defer', 'drop')"
    )
    dims = {
        "rule_id": "m.rule_id",
        "step": "m.step",
        "action": action,
        "reason": f"SUBSTR(COALESCE({reason}, ''), 1, 40)",
    }
    parts = [_Part({"decisions": "1"}, held, [lo, hi])]
    written += _rewrite(cursor, DecisionDay, dims, ("decisions",), decisions, parts, day)
    return written


# The cuts of the questionnaire results page: each sets its own dimensions (the others empty).
ANSWER_CUTS: dict[str, dict[str, str]] = {
    "all": {},
    "rule": {"rule_id": "r.rule_id"},
    "team": {"team_id": "r.team_id"},
    "channel": {"channel": "r.channel"},
    "region": {"province": "COALESCE(c.province, '')", "city": "COALESCE(c.city, '')"},
}


def _answer_cuts(cursor: Any, day: date, lo: Any, hi: Any) -> int:
    """The answered responses' scores per version, in total and by each single dimension
    (``AnswerCutDay``), by ``submitted_at``."""
    dims = {
        "version_id": "r.version_id",
        "cut": "''",
        "rule_id": "CAST(NULL AS BIGINT)",
        "team_id": "CAST(NULL AS BIGINT)",
        "channel": "''",
        "province": "''",
        "city": "''",
    }
    scores = {
        "answered": "1",
        "csat_n": "CASE WHEN r.csat IS NULL THEN 0 ELSE 1 END",
        "csat_ok": "CASE WHEN r.csat >= 4 THEN 1 ELSE 0 END",
        "nps_n": "CASE WHEN r.nps IS NULL THEN 0 ELSE 1 END",
        "promoters": "CASE WHEN r.nps >= 9 THEN 1 ELSE 0 END",
        "detractors": "CASE WHEN r.nps <= 6 THEN 1 ELSE 0 END",
        "ces_n": "CASE WHEN r.ces IS NULL THEN 0 ELSE 1 END",
        "ces_sum": "COALESCE(r.ces, 0)",
    }
    parts = [
        _Part(scores, _in("r.submitted_at"), [lo, hi], dims={"cut": f"'{cut}'", **own})
        for cut, own in ANSWER_CUTS.items()
    ]
    source = f"FROM {_table(Response)} r LEFT JOIN {_table(Customer)} c ON c.id = r.customer_id"
    measures = [m for m in ANSWER_MEASURES if m != "opened"]
    return _rewrite(cursor, AnswerCutDay, dims, measures, source, parts, day)


def rollup_day(day: date) -> int:
    """Rewrite every rollup of ``day`` (organisation-local) from the source rows; the number
    of rollup rows written."""
    start, end = day_bounds(day)
    lo = connection.ops.adapt_datetimefield_value(start)
    hi = connection.ops.adapt_datetimefield_value(end)
    with transaction.atomic(), connection.cursor() as cursor:
        return sum(
            step(cursor, day, lo, hi)
            for step in (_messages, _tasks, _answers, _dashboard, _answer_cuts)
        )


# --- which days -------------------------------------------------------------------------

# Each source: its model, and the timestamps its counts are attributed by.
SOURCES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "message": (Message, ("created_at", "queued_at", "sent_at", "delivered_at", "planned_at")),
    "click": (Click, ("clicked_at",)),
    "reply": (Event, ("occurred_at",)),
    "task": (Task, ("created_at", "closed_at")),
    "response": (Response, ("started_at", "submitted_at")),
    "enrollment": (Enrollment, ("started_at", "ended_at")),
    "answer": (Event, ("occurred_at",)),  # every reply type, for RuleStepDay
}


def _rows(name: str) -> Any:
    model, _fields = SOURCES[name]
    rows = model.objects.all()
    if name == "answer":
        return rows.filter(type__in=_reply_kinds())
    return rows.filter(type=REPLIED) if name == "reply" else rows


def _days_of(rows: Any, fields: Sequence[str]) -> set[date]:
    days: set[date] = set()
    for values in rows.values_list(*fields).iterator(chunk_size=5000):
        days.update(local_day(value) for value in values if value is not None)
    return days


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _marks() -> dict[str, Watermark]:
    """The watermarks, locked for the transaction: refreshes and rebuilds take turns, so two
    of them never delete and insert the same day at once (which would double its rows)."""
    marks = {w.source: w for w in Watermark.objects.select_for_update()}
    for source in [*SOURCES, "refresh"]:
        if source not in marks:
            marks[source] = Watermark.objects.create(source=source)
    return marks


def _recent_days() -> int:
    return int(getattr(settings, "HUIFANG_ANALYTICS_RECENT_DAYS", 2))


def refresh(now: datetime) -> Rebuilt:
    """Redo the days that may have changed since the last refresh (all of history the first
    time); idempotent, and after downtime it simply has more days to redo."""
    with transaction.atomic():
        marks = _marks()
        since = marks["refresh"].at
        today = local_day(now)
        # From the last run (less the recent days) to today: the times set since, and the
        # changes without a time of their own, however long the worker was down.
        since_day = today if since is None else min(local_day(since - SLACK), today)
        days = set(_span(since_day - timedelta(days=_recent_days() - 1), today))
        tops: dict[str, int] = {}
        for name, (_model, fields) in SOURCES.items():
            rows = _rows(name)
            tops[name] = rows.aggregate(top=Max("pk"))["top"] or 0
            fresh = rows.filter(pk__gt=marks[name].last_id, pk__lte=tops[name])
            days |= _days_of(fresh, fields)
            # A click or reply that arrives late may come before one already counted as
            # the first: the days of the others of the same message (customer) too.
            if name == "click":
                days |= _days_of(rows.filter(message_id__in=fresh.values("message_id")), fields)
            elif name in ("reply", "answer"):
                days |= _days_of(rows.filter(customer_id__in=fresh.values("customer_id")), fields)
        if since is not None:  # tasks saved since (an outcome, a reopening) without a new time
            days |= _days_of(Task.objects.filter(updated_at__gte=since - SLACK), SOURCES["task"][1])
        rows = sum(rollup_day(day) for day in sorted(days))
        for name, top in tops.items():
            marks[name].last_id = max(marks[name].last_id, top)
            marks[name].save(update_fields=["last_id"])
        marks["refresh"].at = now
        marks["refresh"].save(update_fields=["at"])
    return Rebuilt(sorted(days), rows)


def history() -> tuple[date, date] | None:
    """The first and last day any source row counts on, or None with no rows at all."""
    moments: list[datetime] = []
    for name, (_model, fields) in SOURCES.items():
        found = _rows(name).aggregate(
            **{f"lo_{f}": Min(f) for f in fields}, **{f"hi_{f}": Max(f) for f in fields}
        )
        moments += [value for value in found.values() if value is not None]
    if not moments:
        return None
    return local_day(min(moments)), local_day(max(moments))


def rebuild(first: date | None, last: date | None, now: datetime) -> Rebuilt:
    """Recompute the days from ``first`` to ``last`` (either end defaults to the sources'
    history). Without bounds the rollups are rebuilt entirely, rows of days no source row
    counts on any more included, and the refresh starts over from here."""
    span = history()
    whole = first is None and last is None
    if span is None and (first is None or last is None):
        if whole:
            with transaction.atomic():
                _clear(now)
        return Rebuilt([], 0)
    first = first or (span[0] if span else first)
    last = last or (span[1] if span else last)
    assert first is not None and last is not None
    if first > last:
        raise ValueError(
            f"nothing to rebuild from {first} to {last}: the first day is after the last"
        )
    days = _span(first, last)
    with transaction.atomic():
        _marks()  # locked: a refresh or another rebuild of the same days waits for this one
        if whole:
            _clear(now)
        rows = sum(rollup_day(day) for day in days)
    return Rebuilt(days, rows)


def _clear(now: datetime) -> None:
    """Forget every rollup row and restart the refresh's watermarks at the sources' end."""
    for model in (
        MessageDay,
        TaskDay,
        AnswerDay,
        EnrollmentDay,
        RuleStepDay,
        DecisionDay,
        AnswerCutDay,
    ):
        model.objects.all().delete()
    marks = _marks()
    for name in SOURCES:
        marks[name].last_id = _rows(name).aggregate(top=Max("pk"))["top"] or 0
        marks[name].save(update_fields=["last_id"])
    marks["refresh"].at = now
    marks["refresh"].save(update_fields=["at"])
