"""Keeping the daily rollups: a day at a time, in set-based SQL, on SQLite and PostgreSQL.

``rollup_day(day)`` rewrites one organisation-local day of every rollup table: it deletes the
day's rows and inserts them again from one ``INSERT … SELECT … GROUP BY`` per table, each
count selected by its own timestamp falling within the day. Doing it twice gives the same
rows, so every caller may simply redo a day it is unsure of. The parts of a statement select
their own table's columns only; the customers' dimensions are joined once, to the day's sums
(``_Customer``), and every part reads the day's rows through an index of its timestamp
(bench/analytics.py ``--sections explain``).

``refresh(now)`` (the worker, every minute) finds the days that may have changed since its last
run and redoes only those — of the messages' rollup, only the id blocks (``BLOCK``) of the
messages that changed, since a busy day's messages are far more than a minute's:

- the days of every timestamp of rows added since then (ids above each source's watermark,
  so a back-dated import lands on its own day);
- every day from the last run to ``now`` (and the ``HUIFANG_ANALYTICS_RECENT_DAYS`` - 1 days
  before it, none by default), but for the messages' rollup: any time set since the last run
  (closed, ended …) falls on them, however long the worker was down;
- the days of every time of the messages changed since then (``Message.changed_at``, which
  every update of a message sets): sent, delivered, a carrier's failure receipt, a drop or a
  hold by the gate, a delivery receipt dated before the last run — whatever day they count on;
- for a late click or reply, the days of the other clicks (replies) of the same message
  (customer): the first one, which the count is attributed to, may have changed;
- the days of tasks saved since then (``Task.updated_at``).

A change that moves no time on a row other than a message or a task (a customer moving city
or to another owner, a deleted customer's cascade) is only seen by ``rebuild``; the worker
rebuilds the last ``REBUILD_DAYS`` days every night for that reason. On PostgreSQL a rebuild
rewrites its days on several connections at once, each day in a transaction of its own,
holding the turn refreshes take (``_turn``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Max, Min, Q
from django.db.models.functions import TruncDate

from huifang.accounts.models import StaffProfile
from huifang.customers.event_types import event_types
from huifang.customers.models import Customer, Event
from huifang.engine.models import Enrollment
from huifang.messaging.models import Click, Message
from huifang.organisation.zones import organisation_zone
from huifang.surveys.models import Response
from huifang.tasks.models import Task

from .kpis import ANSWERS, DIMENSIONS, EVENTS, MESSAGES, TASKS
from .models import (
    AnswerCutDay,
    AnswerDay,
    AnswerDayBy,
    DecisionDay,
    EnrollmentDay,
    EventDay,
    EventDayBy,
    MessageDay,
    MessageDayBy,
    RuleStepDay,
    TaskDay,
    TaskDayBy,
    Watermark,
)
from .periods import next_month

# A row committed a little after the last run read the sources may carry a timestamp from just
# before it: the days redone start this much before the last run.
SLACK = timedelta(minutes=10)
# The messages' rollup keeps a day's rows by id block (ids // BLOCK, ``MessageDay.block``):
# ids grow with time, so the messages a minute changes sit in a block or two, and the refresh
# rewrites those blocks' rows of their days rather than the whole days (a day grows without
# bound at 1,000 new messages a second; a block does not).
BLOCK = 1 << 16
# The nightly rebuild's reach (changes that move no timestamp, on older rows).
REBUILD_DAYS = 7
# The PostgreSQL advisory lock refreshes and rebuilds take turns by ("HFROLLUP").
TURN = 0x4846_524F_4C4C_5550
REPLIED = "message_replied"
# The replies of the response rate (docs/metrics.md §4): a questionnaire answered through the
# message's link, or pushed naming it, is a reply too. (The flow count ``replied`` keeps to
# ``message_replied``, as the rule dashboard does.)
REPLIES = (REPLIED, "survey_answered")
# Channels a customer can answer a message on (the response rate's denominator).
REPLYABLE = ("sms", "email")
# The windows of conversion after a follow-up (days), and of a repeat complaint / of a
# complaint that undoes a first-contact resolution.
CONVERSION_DAYS = (7, 30, 90)
# The outcomes of a closed task that never reached the customer: the conversion baseline's
# pool (docs/metrics.md §12).
UNREACHED_OUTCOMES = ("", "not_reached")
REPEAT_DAYS = 30
RESOLVED_DAYS = 7


@dataclass(frozen=True)
class Rebuilt:
    days: list[date]
    rows: int
    jobs: int = 1  # the connections the days were rewritten on


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


def _attribute(alias: str, key: str) -> str:
    """A customer's custom attribute ``key`` as text, '' when missing."""
    if connection.vendor == "postgresql":
        return f"COALESCE({alias}.attributes ->> '{key}', '')"
    return f"COALESCE(CAST(json_extract({alias}.attributes, '$.{key}') AS TEXT), '')"


def _category(alias: str) -> str:
    """The product category: ``attributes.product_category``, else the business line."""
    return f"COALESCE(NULLIF({_attribute(alias, 'product_category')}, ''), {alias}.business_line)"


def _non_empty(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"jsonb_array_length({column}) > 0"
    return f"json_array_length({column}) > 0"


def _plus_days(moment: str, days: int) -> str:
    """``moment`` + ``days`` days, comparable with the stored timestamps."""
    if connection.vendor == "postgresql":
        return f"({moment} + INTERVAL '{int(days)} days')"
    return f"strftime('%Y-%m-%d %H:%M:%f', {moment}, '+{int(days)} days')"


def _types(flag: str) -> str:
    """The event types with ``flag`` (``is_complaint``, ``is_purchase``), as an SQL list."""
    keys = sorted(entry.key for entry in event_types if getattr(entry, flag))
    if not all(key.replace("_", "").isalnum() for key in keys):  # keys are identifiers
        raise ValueError(keys)
    return "(" + ", ".join(f"'{key}'" for key in keys or ["-"]) + ")"


def _each_row() -> str:
    """Appended to a correlated ``EXISTS`` subquery in a SELECT list: on PostgreSQL an
    ``OFFSET 0`` keeps it a per-row probe of its index. Without it the planner may run it once
    as a hash of the whole table (all the events, all the responses) whenever that fits in
    ``work_mem`` — for every day, so a rebuild would grow with the square of the history."""
    return " OFFSET 0" if connection.vendor == "postgresql" else ""


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
    source: str = ""  # its own FROM clause, when not the table's


@dataclass(frozen=True)
class _Customer:
    """The customer's dimensions, joined once to the day's summed rows rather than in each part:
    every part selects only its own table's columns and the customer id (``key``), the union is
    summed by them, and the customers (and their owners' profiles) are read for those sums
    alone. (Joined in each part, every large part hashed all the customers: a day 3.2 s at
    10 M messages and 1 M customers, most of a rebuild's time.)"""

    key: str  # the customer id in the parts, e.g. ``m.customer_id``
    join: str  # ``JOIN <customers> c ON c.id = g.customer_id …`` (``g``: the sums)
    dims: dict[str, str]  # dimension → expression over ``c`` / ``p``


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
    customer: _Customer | None = None,
    within: tuple[str, Sequence[Any]] = ("", ()),
) -> int:
    """Delete ``day``'s rows of ``model`` (those ``within`` selects, e.g. ``AND block IN …``)
    and insert them again from ``parts`` (with the ``customer`` dimensions joined after the
    union)."""
    table = _table(model)
    own = {name: expr for name, expr in dims.items() if not customer or name not in customer.dims}
    extra = {"customer_id": customer.key} if customer else {}
    selects: list[str] = []
    params: list[Any] = []
    for part in parts:
        columns = [f"{part.dims.get(name, expr)} AS {name}" for name, expr in own.items()]
        columns += [f"{expr} AS {name}" for name, expr in extra.items()]
        columns += [f"{part.values.get(m, '0')} AS {m}" for m in measures]
        selects.append(f"SELECT {', '.join(columns)} {part.source or source} WHERE {part.where}")
        params.extend(part.params)
    union = " UNION ALL ".join(selects)
    names = ", ".join(list(dims) + list(measures))
    if customer is None:
        keys = ", ".join(own)
        sums = ", ".join([*own, *(f"SUM({m})" for m in measures)])
        select = f"SELECT %s, {sums} FROM ({union}) u GROUP BY {keys}"  # noqa: S608
    else:
        inner = ", ".join([*own, *extra])
        summed = ", ".join([*own, *extra, *(f"SUM({m}) AS {m}" for m in measures)])
        outer = [customer.dims.get(name, f"g.{name}") for name in dims]
        select = (
            f"SELECT %s, {', '.join(outer + [f'SUM(g.{m})' for m in measures])} FROM ("  # noqa: S608
            f"SELECT {summed} FROM ({union}) u GROUP BY {inner}) g {customer.join}"
            f" GROUP BY {', '.join(outer)}"
        )
    stored = connection.ops.adapt_datefield_value(day)
    narrow, narrowed_by = within
    cursor.execute(f"DELETE FROM {table} WHERE day = %s{narrow}", [stored, *narrowed_by])  # noqa: S608
    cursor.execute(f"INSERT INTO {table} (day, {names}) {select}", [stored, *params])
    return max(int(cursor.rowcount or 0), 0)


def _customer(key: str, *, outer: bool = False) -> _Customer:
    """The customer dimensions of the message and event rollups, by the parts' ``key``."""
    c, p = _table(Customer), _table(StaffProfile)
    join = "LEFT JOIN" if outer else "JOIN"
    return _Customer(
        key,
        f"{join} {c} c ON c.id = g.customer_id LEFT JOIN {p} p ON p.user_id = c.owner_id",
        {
            "team_id": "p.team_id",
            "province": "c.province",
            "city": "c.city",
            "business_line": "c.business_line",
            "tier": "c.tier",
            "source": "c.source",
            "lifecycle_stage": "c.lifecycle_stage",
            "product_category": _category("c"),
            "owner_id": "c.owner_id",
        },
    )


MESSAGE_MEASURES = (
    "created", "queued", "sent", "delivered", "failed", "dropped", "held", "clicked", "replied",
    "surveys", "sent_links", "sent_delivered", "sent_failed", "sent_clicked", "sent_replyable",
    "sent_replied", "survey_opened", "survey_answered", "created_reached", "holds",
)  # fmt: skip
TASK_MEASURES = (
    "opened", "done", "with_due", "on_time", "cancelled", "reached", "not_reached", "handled",
    "handling_seconds", "created_done", "created_cancelled", "created_reached", "first_contact",
    "converted_7", "converted_30", "converted_90", "scored", "scored_ok",
    "baseline_pool", "baseline_converted_7", "baseline_converted_30", "baseline_converted_90",
)  # fmt: skip
EVENT_MEASURES = ("complaints", "repeat_complaints", "purchases")
ANSWER_MEASURES = (
    "opened", "answered", "csat_n", "csat_ok", "nps_n", "promoters", "detractors", "ces_n",
    "ces_sum",
)  # fmt: skip


def _in(column: str) -> str:
    return f"{column} >= %s AND {column} < %s"


def _ranges(blocks: Iterable[int]) -> list[tuple[int, int]]:
    """The id ranges ``[first, end)`` of ``blocks``, adjacent blocks joined."""
    ranges: list[tuple[int, int]] = []
    for block in sorted(set(blocks)):
        first, end = block * BLOCK, (block + 1) * BLOCK
        if ranges and ranges[-1][1] == first:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((first, end))
    return ranges


def _messages(cursor: Any, day: date, lo: Any, hi: Any, blocks: Iterable[int] | None = None) -> int:
    """Customer messages: each count by its own timestamp; drops by reason. Kept by the
    messages' id block; with ``blocks``, only those blocks' rows are rewritten (each part
    reads the blocks' id ranges besides its day)."""
    m = _table(Message)
    k, e = _table(Click), _table(Event)
    # Messages without a customer are not counted (the customers are joined, not outer).
    customer = _customer("m.customer_id")
    dims = {
        "rule_id": "m.rule_id",
        "step": "m.step",
        "channel": "m.channel",
        "provider_id": "m.provider_id",
        **customer.dims,
        "reason": "''",
        "block": f"m.id / {int(BLOCK)}",
    }
    source = f"FROM {m} m"
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
    # The cohort of the day's sent messages: what became of each since (whenever).
    r = _table(Response)
    links = _non_empty("m.links")
    ever_clicked = f"EXISTS (SELECT 1 FROM {k} k WHERE k.message_id = m.id{_each_row()})"  # noqa: S608
    ever_replied = (
        f"EXISTS (SELECT 1 FROM {e} e WHERE e.customer_id = m.customer_id"  # noqa: S608
        f" AND e.type IN ('{REPLIES[0]}', '{REPLIES[1]}') AND {named} = m.id{_each_row()})"
    )
    replyable = "m.channel IN (" + ", ".join(f"'{c}'" for c in REPLYABLE) + ")"
    # By the one-response-per-link key (version, customer, message): its unique index.
    response = (
        f"SELECT 1 FROM {r} r WHERE r.version_id = m.survey_version_id"  # noqa: S608
        " AND r.customer_id = m.customer_id AND r.message_id = m.id"
    )
    with_survey = "m.survey_version_id IS NOT NULL"
    cohort = {
        "sent_links": f"CASE WHEN {links} THEN 1 ELSE 0 END",
        "sent_delivered": "CASE WHEN m.delivered_at IS NOT NULL THEN 1 ELSE 0 END",
        "sent_failed": "CASE WHEN m.status = 'failed' THEN 1 ELSE 0 END",
        "sent_clicked": f"CASE WHEN {links} AND {ever_clicked} THEN 1 ELSE 0 END",
        "sent_replyable": f"CASE WHEN {replyable} THEN 1 ELSE 0 END",
        "sent_replied": f"CASE WHEN {replyable} AND {ever_replied} THEN 1 ELSE 0 END",
        "survey_opened": (
            f"CASE WHEN {with_survey} AND EXISTS ({response}{_each_row()}) THEN 1 ELSE 0 END"
        ),
        "survey_answered": (
            f"CASE WHEN {with_survey} AND EXISTS ({response}"
            f" AND r.submitted_at IS NOT NULL{_each_row()}) THEN 1 ELSE 0 END"
        ),
    }
    reached = "m.sent_at IS NOT NULL AND m.status IN ('sent', 'delivered')"
    # Each ``defer`` decision of the gate, by its reason (as the rule dashboard reads them).
    if connection.vendor == "postgresql":
        each = (
            "CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(m.decisions) = "
            "'array' THEN m.decisions ELSE '[]'::jsonb END) AS d(value)"
        )
        action, why = "d.value ->> 'action'", "d.value ->> 'reason'"
    else:
        each = (
            ", json_each(CASE WHEN json_type(m.decisions) = 'array' THEN m.decisions"
            " ELSE '[]' END) AS d"
        )
        action, why = "json_extract(d.value, '$.action')", "json_extract(d.value, '$.reason')"
    parts = [
        _Part(
            {"created": "1", "created_reached": f"CASE WHEN {reached} THEN 1 ELSE 0 END"},
            _in("m.created_at"),
            [lo, hi],
        ),
        _Part({"queued": "1"}, _in("m.queued_at"), [lo, hi]),
        _Part({"sent": "1", "surveys": survey, **cohort}, _in("m.sent_at"), [lo, hi]),
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
        _Part(
            {"holds": "1"},
            f"{action} = 'defer' AND " + _in("m.created_at"),
            [lo, hi],
            dims={"reason": f"SUBSTR(COALESCE({why}, ''), 1, 20)"},
            source=f"{source} {each}",
        ),
        _Part({"clicked": "1"}, clicked, [lo, hi, lo]),
        _Part({"replied": "1"}, replied, [REPLIED, lo, hi, REPLIED, lo]),
    ]
    within: tuple[str, Sequence[Any]] = ("", ())
    if blocks is not None:
        if not _ranges(blocks):
            return 0
        parts, within = _narrowed(parts, blocks)
    return _rewrite(
        cursor, MessageDay, dims, MESSAGE_MEASURES, source, parts, day, customer, within
    )


def _narrowed(
    parts: Sequence[_Part], blocks: Iterable[int], alias: str = "m"
) -> tuple[list[_Part], tuple[str, list[Any]]]:
    """``parts`` reading only the messages of ``blocks`` (their id ranges), and the narrowing of
    the DELETE to those blocks' rows."""
    chosen = sorted(set(blocks))
    ranges = _ranges(chosen)
    ids = " OR ".join(f"({alias}.id >= %s AND {alias}.id < %s)" for _range in ranges)
    bounds = [bound for pair in ranges for bound in pair]
    narrowed = [
        replace(part, where=f"({part.where}) AND ({ids})", params=[*part.params, *bounds])
        for part in parts
    ]
    return narrowed, (f" AND block IN ({', '.join(['%s'] * len(chosen))})", chosen)


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
    e, tt = _table(Event), _table(Task)
    is_reached = "t.outcome = 'reached'"
    # The baseline's pool: closed without ever reaching the customer. Not wrong numbers and
    # refusals (they are no customers one could have converted by a call), nor call-backs
    # (the customer was spoken to).
    unreached = "t.outcome IN (" + ", ".join(f"'{o}'" for o in UNREACHED_OUTCOMES) + ")"
    complained = (
        f"EXISTS (SELECT 1 FROM {e} e WHERE e.customer_id = t.customer_id"  # noqa: S608
        f" AND e.type IN {_types('is_complaint')} AND e.occurred_at > t.closed_at"
        f" AND e.occurred_at <= {_plus_days('t.closed_at', RESOLVED_DAYS)}{_each_row()})"
    )
    child = f"EXISTS (SELECT 1 FROM {tt} ch WHERE ch.parent_id = t.id{_each_row()})"  # noqa: S608
    closed["first_contact"] = (
        f"CASE WHEN {done} AND {is_reached} AND t.attempts = 1 AND NOT {child}"
        f" AND NOT {complained} THEN 1 ELSE 0 END"
    )
    for days in CONVERSION_DAYS:
        bought = (
            f"EXISTS (SELECT 1 FROM {e} e WHERE e.customer_id = t.customer_id"  # noqa: S608
            f" AND e.type IN {_types('is_purchase')} AND e.occurred_at > t.closed_at"
            f" AND e.occurred_at <= {_plus_days('t.closed_at', days)}{_each_row()})"
        )
        closed[f"converted_{days}"] = f"CASE WHEN {is_reached} AND {bought} THEN 1 ELSE 0 END"
        closed[f"baseline_converted_{days}"] = (
            f"CASE WHEN {unreached} AND {bought} THEN 1 ELSE 0 END"
        )
    closed["scored"] = f"CASE WHEN {done} AND t.score IS NOT NULL THEN 1 ELSE 0 END"
    closed["scored_ok"] = f"CASE WHEN {done} AND t.score >= 4 THEN 1 ELSE 0 END"
    closed["baseline_pool"] = f"CASE WHEN {unreached} THEN 1 ELSE 0 END"
    opened = {
        "opened": "1",
        "created_done": f"CASE WHEN {done} THEN 1 ELSE 0 END",
        "created_cancelled": "CASE WHEN t.status = 'cancelled' THEN 1 ELSE 0 END",
        "created_reached": "CASE WHEN t.outcome IN ('reached', 'call_back') THEN 1 ELSE 0 END",
    }
    parts = [
        _Part(opened, _in("t.created_at"), [lo, hi]),
        _Part(closed, "t.status IN ('done', 'cancelled') AND " + _in("t.closed_at"), [lo, hi]),
    ]
    source = f"FROM {tt} t"
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
    source = f"FROM {_table(Response)} r"
    # Only the customer's place; a response without a customer counts with an empty one.
    join = _customer("r.customer_id", outer=True).join
    customer = _Customer("r.customer_id", join, {k: dims[k] for k in ("province", "city")})
    return _rewrite(cursor, AnswerDay, dims, ANSWER_MEASURES, source, parts, day, customer)


def _events(cursor: Any, day: date, lo: Any, hi: Any) -> int:
    """Complaints (and the repeat ones) and purchases, by ``occurred_at``."""
    e = _table(Event)
    customer = _customer("e.customer_id")
    dims = dict(customer.dims)
    complaint = f"e.type IN {_types('is_complaint')}"
    before = (
        f"EXISTS (SELECT 1 FROM {e} e2 WHERE e2.customer_id = e.customer_id"  # noqa: S608
        f" AND e2.type IN {_types('is_complaint')} AND e2.occurred_at < e.occurred_at"
        f" AND {_plus_days('e2.occurred_at', REPEAT_DAYS)} >= e.occurred_at{_each_row()})"
    )
    parts = [
        _Part(
            {"complaints": "1", "repeat_complaints": f"CASE WHEN {before} THEN 1 ELSE 0 END"},
            f"{complaint} AND " + _in("e.occurred_at"),
            [lo, hi],
        ),
        _Part(
            {"purchases": "1"},
            f"e.type IN {_types('is_purchase')} AND " + _in("e.occurred_at"),
            [lo, hi],
        ),
    ]
    source = f"FROM {e} e"
    return _rewrite(cursor, EventDay, dims, EVENT_MEASURES, source, parts, day, customer)


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
    within: tuple[str, Sequence[Any]] = ("", ()),
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
    narrow, narrowed_by = within
    cursor.execute(f"DELETE FROM {table} WHERE day = %s{narrow}", [stored, *narrowed_by])  # noqa: S608
    cursor.execute(
        f"INSERT INTO {table} (day, {keys}, {', '.join(measures)}) SELECT %s, {sums} FROM ("  # noqa: S608
        + " UNION ALL ".join(selects)
        + f") u GROUP BY {keys}",
        [stored, *params],
    )
    return max(int(cursor.rowcount or 0), 0)


def _dashboard(cursor: Any, day: date, lo: Any, hi: Any) -> int:
    """What the rule dashboard reads besides the messages' own counts (``_dashboard_messages``):
    enrollments entered (``started_at``) and finished (``ended_at``, by status and reason); the
    rules' messages answered (the day of the first answer) and tasks done."""
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
    tasks = f"FROM {_table(Task)} t"
    # These rows have no block; the DELETE keeps to them (legacy rows without a block are
    # rewritten whole first: ``_Work.run``).
    written += _rewrite_from(
        cursor,
        RuleStepDay,
        {"rule_id": "m.rule_id", "step": "m.step", "channel": "m.channel"},
        ("sent", "delivered", "replied", "tasks_done"),
        [
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
        within=(" AND block IS NULL", ()),
    )
    return written


def _dashboard_messages(
    cursor: Any, day: date, lo: Any, hi: Any, blocks: Iterable[int] | None = None
) -> int:
    """The rule dashboard's counts of the rules' messages themselves, kept by id block as the
    messages' rollup is (with ``blocks``, only those): sent and delivered; the gate's holds and
    drops by reason, on the day the message was written."""
    written = 0
    messages = f"FROM {_table(Message)} m"
    of_rule = "m.rule_id IS NOT NULL AND "
    parts = [
        _Part({"sent": "1"}, of_rule + _in("m.sent_at"), [lo, hi]),
        _Part({"delivered": "1"}, of_rule + _in("m.delivered_at"), [lo, hi]),
    ]
    within: tuple[str, Sequence[Any]] = (" AND block IS NOT NULL", ())
    if blocks is not None:
        if not _ranges(blocks):
            return 0
        parts, within = _narrowed(parts, blocks)
    written += _rewrite_from(
        cursor,
        RuleStepDay,
        {"rule_id": "m.rule_id", "step": "m.step", "channel": "m.channel"}
        | {"block": f"m.id / {int(BLOCK)}"},
        ("sent", "delivered", "replied", "tasks_done"),
        [(messages, part) for part in parts],
        day,
        within,
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
        "block": f"m.id / {int(BLOCK)}",
    }
    parts = [_Part({"decisions": "1"}, held, [lo, hi])]
    within = ("", ())
    if blocks is not None:
        parts, within = _narrowed(parts, blocks)
    written += _rewrite(
        cursor, DecisionDay, dims, ("decisions",), decisions, parts, day, within=within
    )
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


# Each rollup's cut table (``models.DayCut``), the ``kpis`` source they serve, their measures.
CUTS: tuple[tuple[Any, Any, str, Sequence[str]], ...] = (
    (MessageDay, MessageDayBy, MESSAGES, MESSAGE_MEASURES),
    (TaskDay, TaskDayBy, TASKS, TASK_MEASURES),
    (AnswerDay, AnswerDayBy, ANSWERS, ANSWER_MEASURES),
    (EventDay, EventDayBy, EVENTS, EVENT_MEASURES),
)


def cut_columns(source: str) -> dict[str, str]:
    """The dimensions the cut table of ``source`` is cut by, with their rollup column: every
    dimension the rollup has but the team, which every cut is kept by anyway."""
    return {
        key: d.columns[source]
        for key, d in DIMENSIONS.items()
        if source in d.columns and key != "team"
    }


def _text(column: str) -> str:
    """A rollup column as the cut's ``value``: ids as text (NULL stays NULL)."""
    return f"CAST({column} AS TEXT)" if column.endswith("_id") else column


def _cut(
    cursor: Any,
    fine: Any,
    cuts: Any,
    source: str,
    measures: Sequence[str],
    day: Any,
    blocks: Iterable[int] | None = None,
) -> int:
    """Rewrite ``day``'s rows of the cut table ``cuts`` from the rollup rows of ``fine``: one
    scan of the day's rows on PostgreSQL (grouping sets), a union of groupings on SQLite. The
    messages' cuts are kept by id block as their rows are; with ``blocks``, only theirs."""
    columns = cut_columns(source)
    sums = ", ".join(f"SUM({m})" for m in measures)
    keyed = fine is MessageDay
    by, narrow, narrowed_by = ", block" if keyed else "", "", []
    if keyed and blocks is not None:
        narrowed_by = sorted(set(blocks))
        narrow = f" AND block IN ({', '.join(['%s'] * len(narrowed_by))})"
    rows = f"FROM {_table(fine)} WHERE day = %s{narrow}"
    if connection.vendor == "postgresql":
        cut = " ".join(f"WHEN GROUPING({c}) = 0 THEN '{k}'" for k, c in columns.items())
        value = " ".join(f"WHEN GROUPING({c}) = 0 THEN {_text(c)}" for c in columns.values())
        sets = ", ".join(["(team_id)", *(f"(team_id, {c})" for c in columns.values())])
        select = (
            f"SELECT day{by}, %s, CASE {cut} ELSE '' END, team_id, CASE {value} ELSE '' END,"
            f" {sums} {rows} GROUP BY day{by}, GROUPING SETS ({sets})"
        )
        params = [False, day, *narrowed_by]
    else:
        parts = [f"SELECT day{by}, %s, '', team_id, '', {sums} {rows} GROUP BY day{by}, team_id"]
        parts += [
            f"SELECT day{by}, %s, '{k}', team_id, {_text(c)}, {sums} {rows}"
            f" GROUP BY day{by}, team_id, {c}"
            for k, c in columns.items()
        ]
        select = " UNION ALL ".join(parts)
        params = [False, day, *narrowed_by] * len(parts)
    names = ", ".join(["day", *(["block"] if keyed else []), "month", "cut", "team_id", "value"])
    names += ", " + ", ".join(measures)
    table = _table(cuts)
    cursor.execute(
        f"DELETE FROM {table} WHERE day = %s AND month = %s{narrow}",  # noqa: S608
        [day, False, *narrowed_by],
    )
    cursor.execute(f"INSERT INTO {table} ({names}) {select}", params)
    return max(int(cursor.rowcount or 0), 0)


def _month_rows(cursor: Any, cuts: Any, measures: Sequence[str], month: date) -> int:
    """Rewrite the whole-``month`` rows of the cut table ``cuts`` from its days' rows."""
    table = _table(cuts)
    start = connection.ops.adapt_datefield_value(month)
    end = connection.ops.adapt_datefield_value(next_month(month))
    names = ", ".join(["day", "month", "cut", "team_id", "value", *measures])
    sums = ", ".join(f"SUM({m})" for m in measures)
    cursor.execute(f"DELETE FROM {table} WHERE day = %s AND month = %s", [start, True])  # noqa: S608
    cursor.execute(
        f"INSERT INTO {table} ({names}) SELECT %s, %s, cut, team_id, value, {sums}"  # noqa: S608
        f" FROM {table} WHERE month = %s AND day >= %s AND day < %s GROUP BY cut, team_id, value",
        [start, True, False, start, end],
    )
    return max(int(cursor.rowcount or 0), 0)


def cut_months(days: Iterable[date], cuts: Iterable[Any] | None = None) -> int:
    """Rewrite the whole-month rows of the cut tables for the months of ``days``, from their
    days' rows (after those days are rewritten: by the refresh, the rebuild, ``cut_day``). Not
    part of ``rollup_day``: days of one month rewritten side by side would each sum the
    month without the other's day."""
    months = sorted({day.replace(day=1) for day in days})
    tables = [cut for cut in CUTS if cuts is None or cut[1] in cuts]
    with transaction.atomic(), connection.cursor() as cursor:
        return sum(
            _month_rows(cursor, table, measures, month)
            for _fine, table, _source, measures in tables
            for month in months
        )


def _cuts(
    cursor: Any, day: date, cuts: Iterable[Any] | None = None, blocks: Iterable[int] | None = None
) -> int:
    """Rewrite ``day``'s rows of the cut tables (``cuts``, all by default; of the messages',
    those of ``blocks`` only when given)."""
    stored = connection.ops.adapt_datefield_value(day)
    wanted = None if cuts is None else set(cuts)
    return sum(
        _cut(cursor, *cut, stored, blocks) for cut in CUTS if wanted is None or cut[1] in wanted
    )


def cut_day(day: date) -> int:
    """Rewrite the cut tables of ``day`` from its rollup rows, as ``rollup_day`` does after
    writing them (for rollup rows written some other way: test figures)."""
    with transaction.atomic(), connection.cursor() as cursor:
        rows = _cuts(cursor, day)
    return rows + cut_months([day])


# The statements that rewrite a day, by name (``refresh`` runs the ones a change needs), and
# the cut table each fine rollup's statement feeds.
STEPS = (
    "messages", "tasks", "answers", "events", "dashboard", "dashboard_messages", "answer_cuts",
)  # fmt: skip
# The statements kept by the messages' id block: the refresh may rewrite some blocks of a day.
BLOCKED = ("messages", "dashboard_messages")
_CUT_OF = {
    "messages": MessageDayBy,
    "tasks": TaskDayBy,
    "answers": AnswerDayBy,
    "events": EventDayBy,
}


def rollup_day(
    day: date,
    steps: Iterable[str] = STEPS,
    *,
    memory: str = "32MB",
    blocks: Iterable[int] | None = None,
) -> int:
    """Rewrite the rollups of ``day`` (organisation-local) from the source rows — those of
    ``steps`` (every one by default), and the cut tables of the rollups rewritten; the number
    of rollup rows written. With ``blocks``, the statements kept by id block (``BLOCKED``)
    rewrite only those blocks (the day's rows must all have a block: ``refresh`` sees to it)."""
    steps = set(steps)
    start, end = day_bounds(day)
    lo = connection.ops.adapt_datetimefield_value(start)
    hi = connection.ops.adapt_datetimefield_value(end)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Compiling these statements (JIT) cost 0.7 s of a day's 2.9 s at 10 M messages
            # and saved nothing (bench/analytics.py, EXPLAIN ANALYZE): off for this transaction.
            cursor.execute("SET LOCAL jit = off")
            # A day's union (~110,000 rows at 10 M messages) is summed in memory: with the
            # default 4 MB it was sorted on disk (0.3 s of the day's 0.9 s). Today, during a
            # burst of sends, holds far more (1 M rows after 270,000 messages): the refresh
            # allows more, lest it spill (9.0 s → 6.7 s; bench/analytics.py, upkeep).
            cursor.execute(f"SET LOCAL work_mem = '{memory}'")
        statements = {
            "messages": _messages, "tasks": _tasks, "answers": _answers, "events": _events,
            "dashboard": _dashboard, "dashboard_messages": _dashboard_messages,
            "answer_cuts": _answer_cuts,
        }  # fmt: skip
        rows = 0
        for name in STEPS:
            if name in BLOCKED and name in steps and blocks is not None:
                hashed = connection.vendor == "postgresql"
                if hashed:
                    # The refresh's blocks hold rows newer than the statistics (ids beyond
                    # the histogram's end): the planner takes 60,000 of them for a hundred
                    # and sorts them to group them; hashing is 2.3 s → 1.4 s for 60,000
                    # messages (bench/analytics.py, upkeep).
                    cursor.execute("SET LOCAL enable_sort = off")
                rows += statements[name](cursor, day, lo, hi, blocks)  # type: ignore[call-arg]
                if hashed:
                    cursor.execute("SET LOCAL enable_sort = on")
            elif name in steps:
                rows += statements[name](cursor, day, lo, hi)
        # The cut tables last: they are summed from the rollup rows just written.
        cuts = {_CUT_OF[name] for name in steps if name in _CUT_OF}
        return rows + _cuts(cursor, day, cuts, blocks)


# --- which days -------------------------------------------------------------------------

# Each source: its model, and the timestamps its counts are attributed by.
SOURCES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "message": (Message, ("created_at", "queued_at", "sent_at", "delivered_at", "planned_at")),
    "click": (Click, ("clicked_at",)),
    "reply": (Event, ("occurred_at",)),
    "task": (Task, ("created_at", "closed_at")),
    "response": (Response, ("started_at", "submitted_at")),
    "event": (Event, ("occurred_at",)),  # complaints and purchases
    "enrollment": (Enrollment, ("started_at", "ended_at")),
    "answer": (Event, ("occurred_at",)),  # every reply type, for RuleStepDay
}


def _rows(name: str) -> Any:
    model, _fields = SOURCES[name]
    rows = model.objects.all()
    if name == "event":
        return rows.filter(type__in=_keys("is_complaint") + _keys("is_purchase"))
    if name == "answer":
        return rows.filter(type__in=_reply_kinds())
    return rows.filter(type__in=REPLIES) if name == "reply" else rows


def _keys(flag: str) -> list[str]:
    return sorted(entry.key for entry in event_types if getattr(entry, flag))


def _days_of(rows: Any, fields: Sequence[str]) -> set[date]:
    """The organisation-local days ``fields`` of ``rows`` fall on: one scan of the rows in the
    database, the distinct combinations of their days. (Reading each row's timestamps into
    Python cost the refresh ~1 s of CPU a minute at 1,000 new messages a second; one
    ``DISTINCT`` a field read the rows once per field, 1.0 s of a 6.4 s refresh.)"""
    here = organisation_zone()
    days = {f"day_{n}": TruncDate(name, tzinfo=here) for n, name in enumerate(fields)}
    found = rows.order_by().annotate(**days).values_list(*days).distinct()
    return {day for combination in found for day in combination if day is not None}


def _blocks_of(rows: Any, fields: Sequence[str], message: str = "pk") -> set[tuple[date, int]]:
    """The (day, block) pairs of ``rows``: the days ``fields`` fall on, each with the id block
    of the row's message (``message``: the field holding its id). On SQLite, the days from the
    first to the last of each field among a block's rows — a superset at worst (a block's days
    in between), read with one grouped scan of plain minimums and maximums: SQLite truncates a
    time in the organisation's zone through a Python function, once a row and field (1.3 s for
    60,000 new messages, a third of the refresh)."""
    if connection.vendor != "sqlite":
        here = organisation_zone()
        days = {f"day_{n}": TruncDate(name, tzinfo=here) for n, name in enumerate(fields)}
        exact = (
            rows.order_by()
            .annotate(block_of=F(message) / BLOCK, **days)
            .values_list("block_of", *days)
            .distinct()
        )
        return {(day, block) for block, *stamps in exact for day in stamps if day is not None}
    bounds: dict[str, Any] = {}
    for n, name in enumerate(fields):
        bounds[f"first_{n}"], bounds[f"last_{n}"] = Min(name), Max(name)
    found = (
        rows.order_by()
        .annotate(block_of=F(message) / BLOCK)
        .values("block_of")
        .annotate(**bounds)
        .order_by()
    )
    pairs: set[tuple[date, int]] = set()
    for row in found:
        for n in range(len(fields)):
            first, last = row[f"first_{n}"], row[f"last_{n}"]
            if first is not None:
                span = _span(local_day(first), local_day(last))
                pairs.update((day, row["block_of"]) for day in span)
    return pairs


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _marks() -> dict[str, Watermark]:
    """The watermarks, locked for the transaction once it is the caller's turn: refreshes and
    rebuilds take turns, so two of them never delete and insert the same day at once (which
    would double its rows). On PostgreSQL the turn is the advisory lock ``TURN``, which a
    parallel rebuild holds for its whole run (``_turn``) while its days commit one by one."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TURN])
    marks = {w.source: w for w in Watermark.objects.select_for_update()}
    for source in [*SOURCES, "refresh"]:
        if source not in marks:
            marks[source] = Watermark.objects.create(source=source)
    return marks


def _recent_days() -> int:
    return int(getattr(settings, "HUIFANG_ANALYTICS_RECENT_DAYS", 1))


@dataclass
class _Work:
    """What a refresh redoes: each day's statements (``STEPS``), and the statements kept by
    the messages' id block (``BLOCKED``) that only some blocks of a day need, with the blocks."""

    steps: dict[date, set[str]] = field(default_factory=dict)
    partly: dict[date, set[str]] = field(default_factory=dict)
    blocks: dict[date, set[int]] = field(default_factory=dict)

    def days(self, days: Iterable[date], steps: Iterable[str]) -> None:
        for day in days:
            self.steps.setdefault(day, set()).update(steps)

    def messages(self, pairs: Iterable[tuple[date, int]], *also: str) -> None:
        """The messages' rollup of each (day, block) of ``pairs``, and the statements ``also``
        of the day (those kept by block, of the block)."""
        for day, block in pairs:
            self.blocks.setdefault(day, set()).add(block)
            self.partly.setdefault(day, set()).update({"messages"} | set(also) & set(BLOCKED))
            self.steps.setdefault(day, set()).update(s for s in also if s not in BLOCKED)

    def run(self, memory: str) -> tuple[set[date], int]:
        """Rewrite it all; the days rewritten and the rows written."""
        rows = 0
        cut: set[Any] = set()
        days = set(self.steps) | set(self.partly)
        for day in sorted(days):
            steps = set(self.steps.get(day, ()))
            partly = self.partly.get(day, set()) - steps
            blocks: set[int] | None = self.blocks.get(day) if partly else None
            touched = steps | partly
            if steps & set(BLOCKED) or (touched & {*BLOCKED, "dashboard"} and _unblocked(day)):
                # A statement kept by block rewritten whole, or rows kept before the blocks:
                # every message statement of the day whole, so that their rows agree.
                steps |= {*BLOCKED, "dashboard"}
                blocks = None
            rows += rollup_day(day, steps | partly, memory=memory, blocks=blocks)
            cut.update(_CUT_OF[name] for name in steps | partly if name in _CUT_OF)
        return days, rows + cut_months(days, cut)


def _unblocked(day: date) -> bool:
    """Whether ``day`` holds message rows written before the rollups kept id blocks."""
    counted = Q(sent__gt=0) | Q(delivered__gt=0)
    return (
        MessageDay.objects.filter(day=day, block__isnull=True).exists()
        or RuleStepDay.objects.filter(counted, day=day, block__isnull=True).exists()
        or DecisionDay.objects.filter(day=day, block__isnull=True).exists()
    )


def refresh(now: datetime) -> Rebuilt:
    """Redo the days that may have changed since the last refresh (all of history the first
    time); idempotent, and after downtime it simply has more days to redo."""
    with transaction.atomic():
        marks = _marks()
        since = marks["refresh"].at
        today = local_day(now)
        # From the last run (less the recent days) to today: the times set since, and the
        # changes without a time of their own, however long the worker was down. Not the
        # messages' rollup: every new or changed message is found by its id or ``changed_at``
        # below, and only its blocks are rewritten.
        since_day = today if since is None else min(local_day(since - SLACK), today)
        work = _Work()
        recent = _span(since_day - timedelta(days=_recent_days() - 1), today)
        work.days(recent, [step for step in STEPS if step not in BLOCKED])
        tops: dict[str, int] = {}
        for name, (_model, fields) in SOURCES.items():
            rows = _rows(name)
            tops[name] = rows.aggregate(top=Max("pk"))["top"] or 0
            fresh = rows.filter(pk__gt=marks[name].last_id, pk__lte=tops[name])
            if name == "message":
                work.messages(_blocks_of(fresh, fields), *NEEDS[name])
            elif name == "click":
                # A click that arrives late may come before one already counted as the
                # first: the days of the others of the same message too.
                others = rows.filter(message_id__in=fresh.values("message_id"))
                work.messages(_blocks_of(others, fields, "message_id"))
            elif name == "reply":
                # Likewise a reply: the others of the same customer, by the message named.
                others = rows.filter(customer_id__in=fresh.values("customer_id"))
                work.messages(_named_blocks(others))
            else:
                work.days(_days_of(fresh, fields), NEEDS[name])
                if name == "answer":
                    others = rows.filter(customer_id__in=fresh.values("customer_id"))
                    work.days(_days_of(others, fields), NEEDS[name])
            _cohorts(work, name, fresh, rows)
        if since is not None:
            changed = since - SLACK
            # Tasks saved since (an outcome, a reopening) without a new time.
            tasks = Task.objects.filter(updated_at__gte=changed)
            work.days(_days_of(tasks, SOURCES["task"][1]), NEEDS["task"])
            # Messages changed since (a failure, a drop, a hold, a receipt dated days earlier
            # than it arrived …): the day of each of their times, the cohort's days among them.
            messages = Message.objects.filter(changed_at__gte=changed)
            work.messages(_blocks_of(messages, SOURCES["message"][1]), *NEEDS["message"])
            # An answer submitted since changes its message's sent (created) day, however old.
            answered = Response.objects.filter(submitted_at__gte=changed, message_id__isnull=False)
            cohorts = Message.objects.filter(pk__in=answered.values("message_id"))
            work.messages(_blocks_of(cohorts, COHORT_FIELDS))
        days, rows = work.run(memory="256MB")
        for name, top in tops.items():
            marks[name].last_id = max(marks[name].last_id, top)
            marks[name].save(update_fields=["last_id"])
        marks["refresh"].at = now
        marks["refresh"].save(update_fields=["at"])
    return Rebuilt(sorted(days), rows)


# The days a message's cohort counts sit on.
COHORT_FIELDS = ("created_at", "sent_at")
# The statements a row of each source counts in (``STEPS``): a day that only a task touched
# rewrites the task rollups alone, not the day's messages.
NEEDS: dict[str, tuple[str, ...]] = {
    "message": ("messages", "dashboard_messages"),  # the rule dashboard: sent, delivered, holds
    "click": ("messages",),
    "reply": ("messages",),
    "task": ("tasks", "dashboard"),  # the rule dashboard: tasks done
    "response": ("answers", "answer_cuts"),
    "event": ("events", "tasks"),  # complaints and purchases; conversion, first contact
    "enrollment": ("dashboard",),
    "answer": ("dashboard",),  # a rule's first answers
}


def _named(properties: Any) -> int | None:
    """The message id a reply names (as ``_message_of`` reads it in SQL), else None."""
    named = properties.get("message") if isinstance(properties, dict) else None
    return named if isinstance(named, int) and not isinstance(named, bool) else None


def _named_blocks(replies: Any) -> set[tuple[date, int]]:
    """The (day, block) pairs of reply events: their day, the block of the message named."""
    pairs = set()
    for occurred_at, properties in replies.values_list("occurred_at", "properties"):
        named = _named(properties)
        if named is not None:
            pairs.add((local_day(occurred_at), named // BLOCK))
    return pairs


def _cohorts(work: _Work, name: str, fresh: Any, rows: Any) -> None:
    """The cohort days that rows new since the last run change, with the statements to redo
    on them: a click, reply or opened questionnaire → its message's sent (created) day, in its
    block; a task (a child) → its parent's days; a complaint or purchase → the customer's
    complaints (repeats), reached follow-ups (first-contact resolution, conversion) and
    follow-ups closed unreached (the conversion baseline)."""
    if name == "click":
        sent = Message.objects.filter(pk__in=fresh.values("message_id"))
        work.messages(_blocks_of(sent, COHORT_FIELDS))
    elif name in ("reply", "response"):
        if name == "reply":
            ids = {_named(p) for p in fresh.values_list("properties", flat=True)}
        else:
            ids = set(fresh.values_list("message_id", flat=True))
        named = [i for i in ids if isinstance(i, int)]
        work.messages(_blocks_of(Message.objects.filter(pk__in=named), COHORT_FIELDS))
    elif name == "task":
        parents = Task.objects.filter(pk__in=fresh.filter(parent__isnull=False).values("parent_id"))
        work.days(_days_of(parents, SOURCES["task"][1]), ("tasks",))
    elif name == "event":
        customers = fresh.values("customer_id")
        converting = ("reached", *UNREACHED_OUTCOMES)  # conversion and its baseline
        followed = Task.objects.filter(customer_id__in=customers, outcome__in=converting)
        work.days(
            _days_of(rows.filter(customer_id__in=customers), SOURCES["event"][1]), ("events",)
        )
        work.days(_days_of(followed, ("closed_at",)), ("tasks",))


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


def rebuild(
    first: date | None, last: date | None, now: datetime, jobs: int | None = None
) -> Rebuilt:
    """Recompute the days from ``first`` to ``last`` (either end defaults to the sources'
    history). Without bounds the rollups are rebuilt entirely: when every day is done, rows of
    days no source row counts on any more are deleted and the refresh starts over from the
    sources' ends as they were when the rebuild began (rows added meanwhile are the next
    refresh's).

    On PostgreSQL (outside a transaction) the days are rewritten on ``jobs`` connections at
    once (``HUIFANG_ANALYTICS_REBUILD_JOBS`` by default), each day in a transaction of its own,
    while this connection holds the refreshes' and rebuilds' turn (``_turn``). A day that fails
    stops the others taking days and raises ``DayFailed``: the days done stay rebuilt, the
    failed day and the rest stay as they were, and so do the watermarks. SQLite (one writer),
    and a caller's transaction, rewrite the days one after the other in one transaction.
    """
    span = history()
    whole = first is None and last is None
    if span is None and (first is None or last is None):
        if whole:
            with transaction.atomic():
                _restart(_marks(), _tops(), now, None)
        return Rebuilt([], 0)
    first = first or (span[0] if span else first)
    last = last or (span[1] if span else last)
    assert first is not None and last is not None
    if first > last:
        raise ValueError(
            f"nothing to rebuild from {first} to {last}: the first day is after the last"
        )
    days = _span(first, last)
    jobs = settings.HUIFANG_ANALYTICS_REBUILD_JOBS if jobs is None else jobs
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        with transaction.atomic():
            marks = _marks()  # a refresh or another rebuild waits for this one
            tops = _tops() if whole else None
            rows = 0
            for day in days:
                try:
                    rows += rollup_day(day)
                except Exception as exc:
                    raise DayFailed(day, [], exc) from exc
            if tops is not None:
                _restart(marks, tops, now, (first, last))
            rows += cut_months(days)
        return Rebuilt(days, rows)
    jobs = min(jobs, len(days))
    with _turn():
        # Read before the days: rows added while they are redone are the next refresh's.
        tops = _tops() if whole else None
        try:
            rows = _side_by_side(days, jobs)
        except DayFailed as failed:
            cut_months(failed.kept)  # the months of the days kept agree with them
            raise
        if tops is not None:
            with transaction.atomic():
                _restart(_marks(), tops, now, (first, last))
        rows += cut_months(days)
    _tidy()
    return Rebuilt(days, rows, jobs)


def _tidy() -> None:
    """After a rebuild on PostgreSQL (outside a transaction): vacuum the cut tables the pages
    read and refresh every rollup's statistics. A rebuild deletes and inserts every row it
    redoes; left to autovacuum, a year's pages read three dead rows for each live one until it
    comes round (the cockpit of a year 120 ms -> 220 ms at 10 M messages)."""
    with connection.cursor() as cursor:
        for _fine, cuts, _source, _measures in CUTS:
            cursor.execute(f"VACUUM (ANALYZE) {_table(cuts)}")
        for model in ROLLUPS:
            if model not in {cuts for _fine, cuts, _source, _measures in CUTS}:
                cursor.execute(f"ANALYZE {_table(model)}")


class DayFailed(Exception):
    """Rewriting ``day`` failed (``cause``); ``kept`` are the days already rewritten, which
    stay so (none in a rebuild that runs in one transaction)."""

    def __init__(self, day: date, kept: list[date], cause: Exception) -> None:
        super().__init__(f"rewriting the rollups of {day} failed: {cause}")
        self.day, self.kept, self.cause = day, kept, cause


@contextmanager
def _turn() -> Iterator[None]:
    """Hold the refreshes' and rebuilds' turn on this connection, outside any transaction, until
    the block ends: the session's advisory lock ``TURN`` (a refresh takes it for its
    transaction in ``_marks`` and waits meanwhile; so does another rebuild)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [TURN])
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [TURN])
        except DatabaseError:
            connection.close()  # a session's end releases its locks


def _side_by_side(days: list[date], jobs: int) -> int:
    """Rewrite ``days`` in order, each in a transaction of its own, on ``jobs`` connections (the
    threads' own, closed when done; this thread's when one); the rollup rows written. The
    first failure stops every job taking another day and is raised (``DayFailed``) once the
    days under way are done."""
    pending = iter(days)
    taking = threading.Lock()
    stop = threading.Event()
    kept: list[date] = []
    failed: list[tuple[date, Exception]] = []

    def work() -> int:
        rows = 0
        while not stop.is_set():
            with taking:
                day = next(pending, None)
            if day is None:
                break
            try:
                rows += rollup_day(day)
            except Exception as exc:
                stop.set()
                failed.append((day, exc))
                break
            kept.append(day)
        return rows

    def own_connection() -> int:
        try:
            return work()
        finally:
            connection.close()

    if jobs == 1:
        rows = work()
    else:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="rebuild") as pool:
            running = [pool.submit(own_connection) for _n in range(jobs)]
            try:
                rows = sum(job.result() for job in running)
            except BaseException:  # interrupted: the jobs finish the days under way only
                stop.set()
                raise
    if failed:
        day, exc = min(failed, key=lambda pair: pair[0])
        raise DayFailed(day, sorted(kept), exc) from exc
    return rows


def _tops() -> dict[str, int]:
    """The last id of each source."""
    return {name: _rows(name).aggregate(top=Max("pk"))["top"] or 0 for name in SOURCES}


ROLLUPS = (
    MessageDay,
    TaskDay,
    AnswerDay,
    EventDay,
    EnrollmentDay,
    RuleStepDay,
    DecisionDay,
    AnswerCutDay,
    *(cut for _fine, cut, _source, _measures in CUTS),
)


def _restart(
    marks: dict[str, Watermark], tops: dict[str, int], now: datetime, span: tuple[date, date] | None
) -> None:
    """After a whole rebuild: forget the rollup rows of the days outside ``span`` (all of them
    without one) and restart the refresh's watermarks at ``tops`` and ``now``."""
    for model in ROLLUPS:
        rows = model.objects.all()
        if span is not None:
            rows = rows.exclude(day__range=span)
        rows.delete()
    for name, top in tops.items():
        marks[name].last_id = top
        marks[name].save(update_fields=["last_id"])
    marks["refresh"].at = now
    marks["refresh"].save(update_fields=["at"])
