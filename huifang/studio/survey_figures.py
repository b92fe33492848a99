"""A questionnaire's results (问卷结果), counted by the database.

Every figure is an aggregate statement (``COUNT`` / ``GROUP BY``) over the responses that pass
the filters — the questionnaire's versions, the period, rule, team, channel and region — never a
loop over rows in Python; Python only turns a handful of grouped counts into shares. So the
page costs the same dozen statements for ten answers as for a million, and each reads the
period's responses through ``survey_response_figures`` (version, submitted_at, with the columns
the figures group by) and the period's answers through ``survey_answer_period`` — on PostgreSQL
from those indexes alone, without visiting the rows (measured in docs/surveys.md).

Who counts where:

- *sent*: messages carrying one of the versions' links (``Message.survey_version``), by the time
  they were sent; *opened*: responses started in the period; *answered*: responses submitted in
  the period. Every other figure reads the answered responses. The rates follow a cohort, so
  none can pass 100 %: of the links sent in the period, the share opened and answered (at any
  time since); of the responses opened in the period, the share submitted.
- CSAT %: the share of CSAT scores of 4 or 5 (on 1–5); NPS: the percentage of promoters (9–10)
  minus the percentage of detractors (0–6); both ``None`` — shown as "—" — when nothing was
  scored, never 0. The headline, trend and cut figures read the response's own scores
  (``Response.csat`` / ``nps`` / ``ces``, set at submission from the question that feeds each
  metric); the per-question figures read that question's answers.
- Periods are whole days in the organisation's zone, as on the rule dashboard; trends bucket
  by day, week (from Monday) or month in that zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.db import connection
from django.db.models import (
    Case,
    Count,
    F,
    Func,
    Q,
    QuerySet,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huifang.analytics.models import AnswerCutDay, AnswerDay
from huifang.core import rows
from huifang.customers.models import Channel
from huifang.messaging.models import Message
from huifang.organisation.zones import organisation_zone
from huifang.surveys.document import CHOICE, SCALES, Question, SurveyDocument, parse_survey
from huifang.surveys.models import Answer, Response, Survey, SurveyVersion

from .dashboard import MAX_DAYS, Period, PeriodError, _day

# What ``_narrowed`` narrows: responses or the messages that carried their links.
_Row = TypeVar("_Row", Response, Message)

PRESETS = {
    "7d": gettext_lazy("Last 7 days"),
    "30d": gettext_lazy("Last 30 days"),
    "90d": gettext_lazy("Last 90 days"),
}
DEFAULT_PRESET = "30d"
GRAINS = {
    "day": (gettext_lazy("By day"), TruncDay),
    "week": (gettext_lazy("By week"), TruncWeek),
    "month": (gettext_lazy("By month"), TruncMonth),
}
TEXT_TYPES = frozenset({"text", "long_text"})
NUMERIC_TYPES = frozenset({"rating", *SCALES})
TEXTS_SHOWN = 20


# -- the filters ----------------------------------------------------------------------------------


class FilterError(ValueError):
    """A filter the page cannot apply; the message is for the user."""


@dataclass(frozen=True)
class Filters:
    """What the page and the exports count: read from the query string, so that a filtered
    view can be bookmarked. ``version`` None means every version of the questionnaire."""

    survey: Survey
    versions: tuple[SurveyVersion, ...]  # newest first
    version: SurveyVersion | None
    period: Period
    rule: int | None = None
    team: int | None = None
    channel: str = ""
    province: str = ""
    city: str = ""

    @property
    def version_ids(self) -> list[int]:
        return [self.version.pk] if self.version else [v.pk for v in self.versions]

    def query(self, **changes: str) -> str:
        """The query string of these filters with ``changes`` (an empty value drops one)."""
        params = {
            "version": str(self.version.number) if self.version else "all",
            "period": self.period.key,
            **(
                {"from": self.period.first.isoformat(), "to": self.period.last.isoformat()}
                if self.period.key == "custom"
                else {}
            ),
            "rule": str(self.rule or ""),
            "team": str(self.team or ""),
            "channel": self.channel,
            "province": self.province,
            "city": self.city,
        }
        if changes.get("period", "custom") != "custom":
            params.pop("from", None)
            params.pop("to", None)
        params.update(changes)
        return urlencode({k: v for k, v in params.items() if v})


def read_filters(survey: Survey, params: Mapping[str, str], now: datetime) -> Filters:
    """The filters a query string asks for. Raises ``FilterError`` (or ``PeriodError``) with
    a message for the user when a value does not make sense; an unknown rule or team simply
    counts nothing."""
    versions = tuple(survey.versions.order_by("-number"))
    wanted = (params.get("version") or "").strip()
    version: SurveyVersion | None
    if wanted == "all":
        version = None
    elif wanted:
        version = next((v for v in versions if str(v.number) == wanted), None)
        if version is None:
            raise FilterError(_("This questionnaire has no version %(n)s.") % {"n": wanted})
    else:  # the version being sent out, else the newest
        current = survey.current_version_id
        version = next((v for v in versions if v.pk == current), versions[0] if versions else None)
    channel = params.get("channel", "")
    if channel and channel not in Channel.values:
        raise FilterError(_("Unknown channel: %(channel)s.") % {"channel": channel})
    return Filters(
        survey=survey,
        versions=versions,
        version=version,
        period=read_period(params, now),
        rule=_id(params.get("rule", ""), _("rule")),
        team=_id(params.get("team", ""), _("team")),
        channel=channel,
        province=params.get("province", "").strip()[:32],
        city=params.get("city", "").strip()[:32],
    )


def read_period(params: Mapping[str, str], now: datetime) -> Period:
    """``period=7d|30d|90d``, or ``custom`` with ``from`` and ``to`` (both days included)."""
    key = params.get("period") or ("custom" if params.get("from") or params.get("to") else "")
    today = now.astimezone(organisation_zone()).date()
    if key != "custom":
        key = key if key in PRESETS else DEFAULT_PRESET
        return Period.of_days(key, today - timedelta(days=int(key[:-1]) - 1), today)
    first, last = _day(params.get("from", "")), _day(params.get("to", ""))
    if first is None or last is None:
        raise PeriodError(_("Enter both dates as YYYY-MM-DD, for example 2026-09-28."))
    if first > last:
        raise PeriodError(_("The first day is after the last day."))
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(_("A period is at most %(days)s days.") % {"days": MAX_DAYS})
    return Period.of_days("custom", first, last)


def _id(text: str, what: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 18:
        raise FilterError(_("Choose a %(what)s from the list.") % {"what": what})
    return int(text)


def _narrowed(found: QuerySet[_Row], filters: Filters) -> QuerySet[_Row]:
    """``found`` (responses or messages) of the filters' rule, channel and region."""
    if filters.rule is not None:
        found = found.filter(rule_id=filters.rule)
    if filters.channel:
        found = found.filter(channel=filters.channel)
    if filters.province:
        found = found.filter(customer__province=filters.province)
    if filters.city:
        found = found.filter(customer__city=filters.city)
    return found.order_by()


def responses(filters: Filters) -> QuerySet[Response]:
    """The responses of the filtered versions, rule, team, channel and region (any time)."""
    found = Response.objects.filter(version_id__in=filters.version_ids)
    if filters.team is not None:
        found = found.filter(team_id=filters.team)
    return _narrowed(found, filters)


def answered(filters: Filters) -> QuerySet[Response]:
    """The responses submitted in the period: what every figure but sent / opened reads."""
    period = filters.period
    return responses(filters).filter(submitted_at__gte=period.start, submitted_at__lt=period.end)


# -- the figures ---------------------------------------------------------------------------------


@dataclass
class Scores:
    """Answered responses and their metric scores; ``None`` where nothing was scored."""

    answered: int = 0
    csat_n: int = 0
    csat: float | None = None  # % of 4–5
    nps_n: int = 0
    nps: float | None = None  # % promoters − % detractors
    ces_n: int = 0
    ces: float | None = None  # average


def scores_of(row: Mapping[str, Any]) -> Scores:
    csat_n, nps_n, ces_n = row["csat_n"] or 0, row["nps_n"] or 0, row["ces_n"] or 0
    return Scores(
        answered=row["n"] or 0,
        csat_n=csat_n,
        csat=100.0 * row["csat_ok"] / csat_n if csat_n else None,
        nps_n=nps_n,
        nps=100.0 * (row["promoters"] - row["detractors"]) / nps_n if nps_n else None,
        ces_n=ces_n,
        ces=float(row["ces_sum"] or 0) / ces_n if ces_n else None,
    )


@dataclass
class Funnel:
    sent: int | None  # None when a filter cannot apply to messages (team)
    opened: int
    answered: int
    sent_opened: int = 0  # of the links sent in the period, opened since
    sent_answered: int = 0  # … and answered since
    opened_submitted: int = 0  # of the responses opened in the period, submitted since

    @property
    def opened_rate(self) -> float | None:
        return 100.0 * self.sent_opened / self.sent if self.sent else None

    @property
    def answered_rate(self) -> float | None:
        return 100.0 * self.sent_answered / self.sent if self.sent else None

    @property
    def completion(self) -> float | None:
        return 100.0 * self.opened_submitted / self.opened if self.opened else None


def funnel(filters: Filters, scores: Scores) -> Funnel:
    period = filters.period
    submitted = Count("pk", filter=Q(submitted_at__isnull=False))
    opened = (
        responses(filters)
        .filter(started_at__gte=period.start, started_at__lt=period.end)
        .aggregate(n=Count("pk"), submitted=submitted)
    )
    links = sent_messages(filters)
    result = Funnel(
        sent=None if links is None else links.count(),
        opened=opened["n"],
        answered=scores.answered,
        opened_submitted=opened["submitted"],
    )
    if links is not None and result.sent:
        # A link is opened after it went: its responses started since the period began.
        followed = Response.objects.filter(
            version_id__in=filters.version_ids,
            started_at__gte=period.start,
            message_id__in=links.values("pk"),
        ).aggregate(n=Count("pk"), submitted=submitted)
        result.sent_opened, result.sent_answered = followed["n"], followed["submitted"]
    return result


def sent_messages(filters: Filters) -> QuerySet[Message] | None:
    """The messages that carried a link in the period: one of the versions, counted through
    the partial index ``message_survey_idx``. Messages know no team, so a team filter leaves
    this figure out rather than showing every team's links."""
    if filters.team is not None:
        return None
    period = filters.period
    messages = Message.objects.filter(
        survey_version_id__in=filters.version_ids,
        sent_at__gte=period.start,
        sent_at__lt=period.end,
    )
    return _narrowed(messages, filters)


# The scores of answered responses, summed from their daily rollup (``AnswerDay``).
ROLLED_SCORES = {
    "n": Sum("answered"),
    "csat_n": Sum("csat_n"),
    "csat_ok": Sum("csat_ok"),
    "nps_n": Sum("nps_n"),
    "promoters": Sum("promoters"),
    "detractors": Sum("detractors"),
    "ces_n": Sum("ces_n"),
    "ces_sum": Sum("ces_sum"),
}


def rolled(filters: Filters, cut: str = "all") -> QuerySet[Any]:
    """The rollup rows of the responses submitted in the period, of the filtered versions,
    rule, team, channel and region, by the organisation-local day of ``submitted_at`` (which
    is how the period is made too). Without a filter but the versions, the compact
    ``AnswerCutDay`` rows of ``cut`` (the total, or one dimension the page cuts by); with one,
    ``AnswerDay``, which carries every dimension at once."""
    period = filters.period
    days = {
        "version_id__in": filters.version_ids,
        "day__gte": period.first,
        "day__lte": period.last,
        "answered__gt": 0,
    }
    narrowed = {
        "rule_id": filters.rule,
        "team_id": filters.team,
        "channel": filters.channel or None,
        "province": filters.province or None,
        "city": filters.city or None,
    }
    chosen = {column: value for column, value in narrowed.items() if value is not None}
    if not chosen:
        return AnswerCutDay.objects.filter(cut=cut, **days).order_by()
    return AnswerDay.objects.filter(**days, **chosen).order_by()


def overall(filters: Filters) -> Scores:
    return scores_of(rolled(filters).aggregate(**ROLLED_SCORES))


@dataclass
class Point:
    bucket: datetime
    scores: Scores


def trend(filters: Filters, grain: str) -> list[Point]:
    """Answered, CSAT % and NPS per day, week or month of the organisation's zone, summed
    from the daily rollup; each bucket is named by the moment it begins."""
    trunc = GRAINS[grain][1]
    grouped = (
        rolled(filters)
        .annotate(bucket=trunc("day"))
        .values("bucket")
        .annotate(**ROLLED_SCORES)
        .order_by("bucket")
    )
    zone = organisation_zone()
    return [
        Point(datetime.combine(_date(row["bucket"]), time(0), tzinfo=zone), scores_of(row))
        for row in grouped
    ]


def _date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


CUTS = {
    "rule": ("rule_id",),
    "team": ("team_id",),
    "channel": ("channel",),
    "region": ("province", "city"),  # the customer's, '' for none (AnswerDay)
}


def cut(filters: Filters, by: str) -> list[tuple[tuple[Any, ...], Scores]]:
    """Answered, CSAT %, NPS and CES per rule, team, channel or region (province, city),
    the most answered first."""
    columns = CUTS[by]
    grouped = (
        rolled(filters, by).values(*columns).annotate(**ROLLED_SCORES).order_by("-n", *columns)
    )
    return [(tuple(row[c] for c in columns), scores_of(row)) for row in grouped]


# -- per question --------------------------------------------------------------------------------


@dataclass
class Share:
    value: str
    label: str
    count: int
    percent: float | None


@dataclass
class QuestionFigures:
    question: Question
    answered: int = 0
    shares: list[Share] = field(default_factory=list)  # options, or points of a scale
    average: float | None = None
    csat: float | None = None
    nps: float | None = None
    rows: list[tuple[str, list[Share]]] = field(default_factory=list)  # a matrix's rows


def questions_of(filters: Filters) -> list[Question]:
    """The questions shown: the chosen version's; for every version, each question id once,
    as its newest version words it, in the newest version's order then older ones'."""
    chosen = [filters.version] if filters.version else list(filters.versions)
    seen: dict[str, Question] = {}
    for version in chosen:
        for question in document(version).questions:
            seen.setdefault(question.id, question)
    return list(seen.values())


def document(version: SurveyVersion) -> SurveyDocument:
    cached = getattr(version, "_document", None)
    if cached is None:
        cached = parse_survey(version.content)
        version._document = cached  # type: ignore[attr-defined]
    return cached


def answers(filters: Filters, question_ids: Sequence[str]) -> QuerySet[Answer]:
    """The answers to ``question_ids`` of the responses submitted in the period. Each answer
    carries its response's version and submission moment, so the period's answers are read
    through ``survey_answer_period`` alone (on PostgreSQL from the index itself); they are
    joined to their responses only when a rule, team, channel or region narrows them."""
    period = filters.period
    lookups: dict[str, Any] = {
        "version_id__in": filters.version_ids,
        "question__in": list(question_ids),
        "submitted_at__gte": period.start,
        "submitted_at__lt": period.end,
    }
    for name, value in (
        ("rule_id", filters.rule),
        ("team_id", filters.team),
        ("channel", filters.channel or None),
        ("customer__province", filters.province or None),
        ("customer__city", filters.city or None),
    ):
        if value is not None:
            lookups[f"response__{name}"] = value
    return Answer.objects.filter(**lookups).order_by()


def per_question(filters: Filters, questions: Sequence[Question]) -> list[QuestionFigures]:
    """Two statements whatever the number of questions: one groups every answer by question,
    number and (for a single choice) option — the answered count, a scale's distribution and
    the options' counts in one pass; one unpacks the JSON of multiple choices and matrices."""
    figures = {q.id: QuestionFigures(q) for q in questions}
    if not figures or not filters.version_ids:
        return []
    single = [q.id for q in questions if q.type == "single_choice"]
    unpacked = [q.id for q in questions if q.type in ("multiple_choice", "matrix")]
    counts: dict[str, dict[Any, int]] = {q: {} for q in figures}
    option = Case(
        When(question__in=single, then=F("choice")),
        default=Value(None),
        output_field=TextField(),
    )
    grouped = (
        answers(filters, list(figures))
        .annotate(option=option)
        .values("question", "number", "option")
        .annotate(n=Count("*"))  # not COUNT(id): the index holds no id
    )
    for row in grouped:
        one, n = figures[row["question"]], row["n"]
        one.answered += n
        if row["number"] is not None:
            counts[one.question.id][int(row["number"])] = n
        elif row["option"] is not None:
            counts[one.question.id][row["option"]] = n
    cells: dict[str, dict[tuple[str, str], int]] = {q: {} for q in unpacked}
    for question, key, item, n in _elements(filters, unpacked) if unpacked else []:
        if key:  # a matrix's row → column
            cells[question][(key, item)] = n
        else:  # a multiple choice's option
            counts[question][item] = n
    for one in figures.values():
        _fill(one, counts[one.question.id], cells.get(one.question.id, {}))
    return [figures[q.id] for q in questions]


def _elements(filters: Filters, question_ids: Sequence[str]) -> list[tuple[str, str, str, int]]:
    """(question, key, element, count) of the answers that are JSON arrays (the options of a
    multiple choice, key "") or objects (a matrix's row → column), unpacked by the database.
    A value of the other shape unpacks to nothing, rather than filtering on its type, which
    would throw the planner's row estimate off."""
    query = answers(filters, question_ids).values_list("question", "value").query
    inner, params = query.sql_with_params()
    if rows.postgres():
        sql = (
            f"SELECT f.question, e.key, e.item, COUNT(*) FROM ({inner}) f "  # noqa: S608
            "CROSS JOIN LATERAL ("
            "SELECT '' AS key, x AS item FROM jsonb_array_elements_text(CASE WHEN "
            "jsonb_typeof(f.value) = 'array' THEN f.value ELSE '[]'::jsonb END) x "
            "UNION ALL SELECT o.key, o.value FROM jsonb_each_text(CASE WHEN "
            "jsonb_typeof(f.value) = 'object' THEN f.value ELSE '{}'::jsonb END) o"
            ") e GROUP BY 1, 2, 3"
        )
    else:
        sql = (
            "SELECT f.question, CASE json_type(f.value) WHEN 'object' THEN e.key ELSE '' END, "  # noqa: S608
            f"e.value, COUNT(*) FROM ({inner}) f, json_each(f.value) e "
            "WHERE json_type(f.value) IN ('array', 'object') GROUP BY 1, 2, 3"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(str(q), str(k), str(v), int(n)) for q, k, v, n in cursor.fetchall()]


def _fill(
    one: QuestionFigures, counts: Mapping[Any, int], cells: Mapping[tuple[str, str], int]
) -> None:
    question = one.question
    scale = question.scale()
    total = one.answered
    if scale is not None:
        points = range(scale[0], scale[1] + 1)
        one.shares = [_share(str(p), str(p), counts.get(p, 0), total) for p in points]
        scored = sum(counts.get(p, 0) for p in points)
        if scored:
            one.average = sum(p * counts.get(p, 0) for p in points) / scored
            if question.type == "csat":
                one.csat = 100.0 * (counts.get(4, 0) + counts.get(5, 0)) / scored
            if question.type == "nps":
                promoters = counts.get(9, 0) + counts.get(10, 0)
                detractors = sum(counts.get(p, 0) for p in range(0, 7))
                one.nps = 100.0 * (promoters - detractors) / scored
    elif question.type in CHOICE:
        # A multiple choice's share is of the respondents who answered it (they add past 100 %).
        one.shares = [
            _share(o.value, o.label, counts.get(o.value, 0), total) for o in question.options or []
        ]
    elif question.type == "matrix":
        for row in question.rows or []:
            in_row = sum(n for (key, _c), n in cells.items() if key == row.value)
            one.rows.append(
                (
                    row.label,
                    [
                        _share(c.value, c.label, cells.get((row.value, c.value), 0), in_row)
                        for c in question.columns or []
                    ],
                )
            )


def _share(value: str, label: str, count: int, total: int) -> Share:
    return Share(value, label, count, 100.0 * count / total if total else None)


# -- text answers --------------------------------------------------------------------------------


class AnswerText(Func):
    """The text of a JSON string answer: ``value #>> '{}'`` on PostgreSQL, ``json_extract``
    on SQLite (which stores the JSON with its non-ASCII characters escaped)."""

    arity = 1
    output_field = TextField()
    template = "json_extract(%(expressions)s, '$')"

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(compiler, connection, template="(%(expressions)s #>> '{}')")


def text_answers(
    filters: Filters, questions: Sequence[Question], search: str = "", tag: str = ""
) -> tuple[int, list[Any]]:
    """The newest text answers (at most ``TEXTS_SHOWN``) and how many match, with their
    response, customer and tags."""
    ids = [q.id for q in questions if q.type in TEXT_TYPES]
    if not ids:
        return 0, []
    found = answers(filters, ids).annotate(text=AnswerText(F("value")))
    if search:
        found = found.filter(text__icontains=search)
    if tag:
        found = found.filter(tags__name=tag)
    total = found.count()
    shown = list(
        found.select_related("response__customer")
        .prefetch_related("tags")
        .order_by("-submitted_at", "-id")[:TEXTS_SHOWN]
    )
    return total, shown
