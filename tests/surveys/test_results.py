"""The results page of a questionnaire: every figure equals an independent count written in
raw SQL over seeded random responses (two versions, four channels, rules, teams, regions and
several weeks); the filters narrow every figure; a figure with nothing to count is "—"; the
exports hold the filtered responses, neutralised and masked, and are audited; tags on text
answers are audited and need the right to edit questionnaires."""

from __future__ import annotations

import csv
import io
import random
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.urls import reverse

from huifang.accounts.roles import Role
from huifang.analytics.rollup import rebuild, refresh
from huifang.audit.models import Entry
from huifang.customers.models import Customer
from huifang.messaging.models import Message
from huifang.studio.survey_export import neutral
from huifang.studio.survey_figures import (
    answered,
    cut,
    funnel,
    overall,
    per_question,
    questions_of,
    read_filters,
    trend,
)
from huifang.surveys.answering import record_scored_reply, store, submit
from huifang.surveys.document import load_survey_text
from huifang.surveys.models import Answer, AnswerTag, Response, Survey, SurveyVersion
from huifang.surveys.services import save_survey
from tests.conftest import make_staff

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("strict_templates")]

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


@pytest.fixture(autouse=True)
def clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


V1 = """
key: after-visit
name: 到店回访
questions:
  - {id: csat, type: csat, title: 满意吗？}
  - {id: nps, type: nps, title: 推荐吗？}
  - {id: ces, type: ces, title: 省心吗？}
  - id: pick
    type: single_choice
    title: 从哪里知道我们？
    options: [{value: friend, label: 朋友}, {value: ad, label: 广告}, {value: web, label: 网络}]
  - id: many
    type: multiple_choice
    title: 喜欢哪些？
    options: [{value: price, label: 价格}, {value: staff, label: 服务}, {value: place, label: 环境}]
  - id: grid
    type: matrix
    title: 各项打分
    rows: [{value: speed, label: 速度}, {value: care, label: 态度}]
    columns: [{value: good, label: 好}, {value: bad, label: 差}]
  - {id: stars, type: rating, title: 打几颗星？, max: 5}
  - {id: note, type: long_text, title: 还想说什么？}
"""
V2 = V1.replace("还想说什么？", "还有什么建议？")
CHANNELS = ["sms", "email", "wecom", "phone"]
PROVINCES = [("广东省", "深圳市"), ("广东省", "广州市"), ("浙江省", "杭州市"), ("", "")]
NOTES = ["服务很好", "等太久了", '=HYPERLINK("http://x")', "价格偏高", "+1 满意"]


def seed(count: int = 160, rng_seed: int = 18) -> tuple[Survey, list[SurveyVersion]]:
    rng = random.Random(rng_seed)
    first = save_survey(load_survey_text(V1)).version
    second = save_survey(load_survey_text(V2)).version
    versions = [first, second]
    customers = [
        Customer.objects.create(name=f"客户{i}", phone=f"+861380013{i:04d}", province=p, city=c)
        for i, (p, c) in enumerate(PROVINCES * 3)
    ]
    for _ in range(count):
        version = rng.choice(versions)
        doc = load_survey_text(V1 if version == first else V2)
        started = NOW - timedelta(days=rng.randint(0, 70), hours=rng.randint(0, 23))
        customer, channel = rng.choice(customers), rng.choice(CHANNELS)
        # The link went between an hour and five days before it was opened, so some links
        # sent before a period are opened in it, and some sent in it are opened after it.
        went = started - timedelta(hours=rng.randint(1, 120))
        message = Message.objects.create(
            customer=customer,
            channel=channel,
            planned_at=went,
            created_at=went - timedelta(hours=1),
            sent_at=went,
            survey_version=version,
        )
        response = Response.objects.create(
            version=version,
            customer=customer,
            channel=channel,
            rule_id=rng.choice([None, 101, 102]),
            team_id=rng.choice([None, 7, 8]),
            message_id=message.pk,
            started_at=started,
        )
        given: dict[str, Any] = {}
        for key, values in (
            ("csat", range(1, 6)),
            ("nps", range(0, 11)),
            ("ces", range(1, 8)),
            ("stars", range(1, 6)),
            ("pick", ["friend", "ad", "web"]),
        ):
            if rng.random() < 0.85:
                given[key] = rng.choice(list(values))
        if rng.random() < 0.7:
            given["many"] = rng.sample(["price", "staff", "place"], rng.randint(1, 3))
        if rng.random() < 0.6:
            given["grid"] = {row: rng.choice(["good", "bad"]) for row in ("speed", "care")}
        if rng.random() < 0.5:
            given["note"] = rng.choice(NOTES)
        store(response, given)
        if rng.random() < 0.8:
            submit(response, doc, now=started + timedelta(minutes=rng.randint(1, 90)))
        if rng.random() < 0.5:  # a link nobody opened
            Message.objects.create(
                customer=customer,
                channel=channel,
                planned_at=went,
                created_at=went,
                sent_at=went,
                survey_version=version,
            )
    # The headline scores, trend and cuts read the daily rollups the worker keeps.
    rebuild(None, None, NOW)
    survey = Survey.objects.get(key="after-visit")
    return survey, versions


def sql(query: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return list(cursor.fetchall())


def period_bounds(filters: Any) -> list[Any]:
    return [filters.period.start.isoformat(sep=" "), filters.period.end.isoformat(sep=" ")]


def where(filters: Any) -> tuple[str, list[Any]]:
    """The filters as a raw WHERE over ``surveys_response r`` joined to customers ``c``."""
    ids = filters.version_ids
    parts = [f"r.version_id IN ({', '.join('%s' for _ in ids)})"]
    params: list[Any] = list(ids)
    for column, value in (
        ("r.rule_id", filters.rule),
        ("r.team_id", filters.team),
        ("r.channel", filters.channel or None),
        ("c.province", filters.province or None),
        ("c.city", filters.city or None),
    ):
        if value is not None:
            parts.append(f"{column} = %s")
            params.append(value)
    parts.append("r.submitted_at >= %s AND r.submitted_at < %s")
    params += [filters.period.start, filters.period.end]
    return " AND ".join(parts), params


FROM = "surveys_response r LEFT JOIN customers_customer c ON c.id = r.customer_id"
ANSWERS = (
    "surveys_answer a JOIN surveys_response r ON r.id = a.response_id "
    "LEFT JOIN customers_customer c ON c.id = r.customer_id"
)

QUERIES = [
    {},
    {"version": "all", "period": "90d"},
    {"version": "1", "period": "90d", "channel": "sms"},
    {"version": "all", "period": "custom", "from": "2026-10-01", "to": "2026-11-10"},
    {"version": "all", "period": "90d", "rule": "101", "province": "广东省"},
    {"version": "all", "period": "90d", "team": "7", "city": "杭州市"},
]


@pytest.mark.parametrize("query", QUERIES)
def test_every_figure_equals_an_independent_sql_count(query: dict[str, str]) -> None:
    survey, _versions = seed()
    filters = read_filters(survey, query, NOW)
    cond, params = where(filters)

    (n, csat_n, csat_ok, nps_n, promoters, detractors, ces_n, ces_sum) = sql(
        f"SELECT COUNT(*), COUNT(r.csat), SUM(CASE WHEN r.csat >= 4 THEN 1 ELSE 0 END), "  # noqa: S608
        f"COUNT(r.nps), SUM(CASE WHEN r.nps >= 9 THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN r.nps <= 6 THEN 1 ELSE 0 END), COUNT(r.ces), SUM(r.ces) "
        f"FROM {FROM} WHERE {cond}",
        params,
    )[0]
    assert n > 0
    scores = overall(filters)
    assert scores.answered == n
    assert scores.csat == pytest.approx(100 * csat_ok / csat_n)
    assert scores.nps == pytest.approx(100 * (promoters - detractors) / nps_n)
    assert scores.ces == pytest.approx(ces_sum / ces_n)

    # Per question: the answers of the responses counted above, by value.
    questions = questions_of(filters)
    figures = {f.question.id: f for f in per_question(filters, questions)}
    numbers = sql(
        f"SELECT a.question, a.number, COUNT(*) FROM {ANSWERS} "  # noqa: S608
        f" WHERE {cond} AND a.number IS NOT NULL "
        "GROUP BY 1, 2",
        params,
    )
    for question, number, count in numbers:
        share = next(s for s in figures[question].shares if s.value == str(int(number)))
        assert share.count == count, (question, number)
    answered_per_question = dict(
        sql(
            f"SELECT a.question, COUNT(*) FROM {ANSWERS} "  # noqa: S608
            f" WHERE {cond} GROUP BY 1",
            params,
        )
    )
    for question in ("csat", "pick", "many", "grid", "stars"):
        assert figures[question].answered == answered_per_question.get(question, 0)
    csat_answers = dict(
        sql(
            f"SELECT a.number >= 4, COUNT(*) FROM {ANSWERS} "  # noqa: S608
            f" WHERE {cond} AND a.question = 'csat' "
            "GROUP BY 1",
            params,
        )
    )
    assert figures["csat"].csat == pytest.approx(
        100 * csat_answers.get(1, 0) / sum(csat_answers.values())
    )

    # Choices, read from each answer's JSON by the database itself.
    postgres = connection.vendor == "postgresql"
    text = "a.value #>> '{}'" if postgres else "json_extract(a.value, '$')"
    items = "jsonb_array_elements_text(a.value) e(value)" if postgres else "json_each(a.value) e"
    pairs = "jsonb_each_text(a.value) e" if postgres else "json_each(a.value) e"
    picks = dict(
        sql(
            f"SELECT {text}, COUNT(*) FROM {ANSWERS} "  # noqa: S608
            f" WHERE {cond} AND a.question = 'pick' "
            "GROUP BY 1",
            params,
        )
    )
    assert {s.value: s.count for s in figures["pick"].shares} == {
        v: picks.get(v, 0) for v in ("friend", "ad", "web")
    }
    many = dict(
        sql(
            f"SELECT e.value, COUNT(*) FROM {ANSWERS} "  # noqa: S608
            f", {items} "
            f"WHERE {cond} AND a.question = 'many' GROUP BY 1",
            params,
        )
    )
    for share in figures["many"].shares:
        assert share.count == many.get(share.value, 0)
        assert share.percent == pytest.approx(100 * share.count / figures["many"].answered)
    grid = dict(
        sql(
            f"SELECT e.key || ':' || e.value, COUNT(*) FROM {ANSWERS} "  # noqa: S608
            f", {pairs} "
            f"WHERE {cond} AND a.question = 'grid' GROUP BY 1",
            params,
        )
    )
    speed = dict(figures["grid"].rows)["速度"]
    assert [s.count for s in speed] == [grid.get("speed:good", 0), grid.get("speed:bad", 0)]

    # Cuts and trend.
    by_channel = dict(
        sql(f"SELECT r.channel, COUNT(*) FROM {FROM} WHERE {cond} GROUP BY 1", params)  # noqa: S608
    )
    assert {key[0]: s.answered for key, s in cut(filters, "channel")} == by_channel
    by_region = {
        (p, c): k
        for p, c, k in sql(
            f"SELECT c.province, c.city, COUNT(*) FROM {FROM} WHERE {cond} GROUP BY 1, 2",  # noqa: S608
            params,
        )
    }
    assert {key: s.answered for key, s in cut(filters, "region")} == by_region
    assert sum(point.scores.answered for point in trend(filters, "week")) == n


def test_answers_carry_their_responses_moment_and_option_for_the_counts() -> None:
    """The figures read a period's answers by the answers' own copy of the submission moment
    and a single choice by ``choice``: both follow the response, on every path that writes."""
    version = save_survey(load_survey_text(V1)).version
    doc = load_survey_text(V1)
    customer = Customer.objects.create(name="客户", phone="+8613800130000")
    response = Response.objects.create(version=version, customer=customer, message_id=1)
    store(response, {"pick": "ad", "note": "x" * 200, "csat": 4})
    assert set(Answer.objects.values_list("submitted_at", flat=True)) == {None}
    submitted = NOW - timedelta(days=2)
    submit(response, doc, now=submitted)
    rows = {a.question: a for a in Answer.objects.filter(response=response)}
    assert {a.submitted_at for a in rows.values()} == {submitted}
    assert (rows["pick"].choice, rows["note"].choice, rows["csat"].choice) == ("ad", None, None)
    # A score sent later by SMS joins the submitted response with the response's moment.
    record_scored_reply(version, customer, "nps", 9, channel="sms", message_id=1, now=NOW)
    assert Answer.objects.get(response=response, question="nps").submitted_at == submitted


def test_sent_and_opened_count_links_and_started_responses() -> None:
    survey, _versions = seed(count=60)
    filters = read_filters(survey, {"version": "all", "period": "90d"}, NOW)
    start, end = filters.period.start, filters.period.end
    (sent,) = sql(
        "SELECT COUNT(*) FROM outbox_message WHERE survey_version_id IS NOT NULL "
        "AND sent_at >= %s AND sent_at < %s",
        [start, end],
    )[0]
    (opened,) = sql(
        "SELECT COUNT(*) FROM surveys_response WHERE started_at >= %s AND started_at < %s",
        [start, end],
    )[0]
    client = Client()
    client.force_login(make_staff("ana", Role.ANALYST))
    page = client.get(reverse("rules:survey_results", args=[survey.key]), filters_query(filters))
    assert page.status_code == 200
    assert _figure(page, "fig-sent") == str(sent)
    assert _figure(page, "fig-opened") == str(opened)
    assert _figure(page, "fig-answered") == str(answered(filters).count())


def test_the_rates_follow_the_links_sent_and_never_pass_100_percent() -> None:
    """Of the links sent in the period, the share opened and answered whenever since; of the
    responses opened in the period, the share submitted — each equal to a raw count."""
    survey, _versions = seed(count=80)
    for query in ({"version": "all", "period": "7d"}, {"version": "all", "period": "30d"}):
        filters = read_filters(survey, query, NOW)
        bounds = [filters.period.start, filters.period.end]
        (sent, opened, answered_links) = sql(
            "SELECT COUNT(*), COUNT(r.id), COUNT(r.submitted_at) FROM outbox_message m "
            "LEFT JOIN surveys_response r ON r.message_id = m.id "
            "WHERE m.survey_version_id IS NOT NULL AND m.sent_at >= %s AND m.sent_at < %s",
            bounds,
        )[0]
        (started, finished) = sql(
            "SELECT COUNT(*), COUNT(submitted_at) FROM surveys_response "
            "WHERE started_at >= %s AND started_at < %s",
            bounds,
        )[0]
        shown = funnel(filters, overall(filters))
        assert (shown.sent, shown.sent_opened, shown.sent_answered) == (
            sent,
            opened,
            answered_links,
        )
        assert (shown.opened, shown.opened_submitted) == (started, finished)
        assert sent and opened < sent  # a period with unopened links, so the rate means something
        for rate in (shown.opened_rate, shown.answered_rate, shown.completion):
            assert rate is not None and 0 <= rate <= 100


def filters_query(filters: Any) -> dict[str, str]:
    return dict(item.split("=", 1) for item in filters.query().split("&"))


def _figure(page: Any, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', page.content.decode())
    assert found, element_id
    return found.group(1).strip()


def test_no_scores_show_a_dash_not_zero() -> None:
    version = save_survey(load_survey_text(V1)).version
    response = Response.objects.create(version=version, channel="sms", started_at=NOW)
    store(response, {"pick": "ad"})
    submit(response, load_survey_text(V1), now=NOW)
    refresh(NOW)
    filters = read_filters(version.survey, {}, NOW)
    scores = overall(filters)
    assert (scores.answered, scores.csat, scores.nps, scores.ces) == (1, None, None, None)
    figures = {f.question.id: f for f in per_question(filters, questions_of(filters))}
    assert figures["csat"].csat is None and figures["nps"].nps is None
    client = Client()
    client.force_login(make_staff("ana", Role.ANALYST))
    page = client.get(reverse("rules:survey_results", args=[version.survey.key]))
    assert _figure(page, "fig-csat") == "—"
    assert _figure(page, "fig-nps") == "—"
    assert _figure(page, "fig-ces") == "—"


def test_a_questionnaire_without_versions_shows_empty_results() -> None:
    survey = Survey.objects.create(key="draft-only", name="草稿问卷")
    client = Client()
    client.force_login(make_staff("ana", Role.ANALYST))
    page = client.get(reverse("rules:survey_results", args=[survey.key]))
    assert page.status_code == 200
    assert _figure(page, "fig-answered") == "0"
    assert _figure(page, "fig-csat") == "—"


def test_a_team_filter_leaves_links_sent_out() -> None:
    survey, _versions = seed(count=20)
    client = Client()
    client.force_login(make_staff("ana", Role.ANALYST))
    page = client.get(reverse("rules:survey_results", args=[survey.key]), {"team": "7"})
    assert _figure(page, "fig-sent") == "—"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"version": "9"}, "no version 9"),
        ({"channel": "fax"}, "Unknown channel"),
        ({"rule": "x1"}, "from the list"),
        ({"period": "custom", "from": "2026-11-10", "to": "2026-11-01"}, "after the last day"),
    ],
)
def test_bad_filters_are_refused_with_a_message(
    query: dict[str, str], message: str, english: None
) -> None:
    survey, _versions = seed(count=5)
    client = Client()
    client.force_login(make_staff("ana", Role.ANALYST))
    page = client.get(
        reverse("rules:survey_results", args=[survey.key]), query, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert page.status_code == 400
    assert message in page.content.decode()


def test_text_answers_are_searched_and_filtered_by_tag() -> None:
    survey, _versions = seed(count=80)
    carol = make_staff("carol2", Role.SUPERVISOR)
    client = Client()
    client.force_login(carol)
    url = reverse("rules:survey_results", args=[survey.key])
    base = {"version": "all", "period": "90d"}
    page = client.get(url, {**base, "q": "太久"})
    filters = read_filters(survey, base, NOW)
    expected = Answer.objects.filter(
        question="note", response__in=answered(filters).values("id"), value="等太久了"
    ).count()
    assert expected > 0
    assert page.context["total_texts"] == expected
    assert all(a.text == "等太久了" for a in page.context["texts"])

    answer = page.context["texts"][0]
    tag_url = reverse("rules:survey_answer_tags", args=[survey.key, answer.pk])
    client.post(tag_url, {"name": " 等待  时间 "}, HTTP_HX_REQUEST="true")
    assert list(answer.tags.values_list("name", flat=True)) == ["等待 时间"]
    entry = Entry.objects.filter(action=Entry.Action.SURVEY).latest("seq")
    assert entry.details["tag"] == "等待 时间" and entry.actor == "carol2"
    tagged = client.get(url, {**base, "tag": "等待 时间"})
    assert [a.pk for a in tagged.context["texts"]] == [answer.pk]

    client.post(tag_url, {"remove": "等待 时间"})
    assert not AnswerTag.objects.exists()
    assert Entry.objects.filter(action=Entry.Action.SURVEY).latest("seq").verb == (
        "answer untagged"
    )


def test_tags_need_the_right_to_edit_and_a_short_name(english: None) -> None:
    survey, _versions = seed(count=30)
    answer = Answer.objects.filter(question="note").first()
    assert answer is not None
    url = reverse("rules:survey_answer_tags", args=[survey.key, answer.pk])
    analyst = Client()
    analyst.force_login(make_staff("ana", Role.ANALYST))
    assert analyst.post(url, {"name": "x"}).status_code == 403
    editor = Client()
    editor.force_login(make_staff("sup", Role.SUPERVISOR))
    too_long = editor.post(url, {"name": "长" * 41}, HTTP_ACCEPT_LANGUAGE="en")
    assert too_long.status_code == 400
    assert "at most 40" in too_long.content.decode()
    assert not AnswerTag.objects.exists()


# -- exports -------------------------------------------------------------------------------------


def test_csv_export_holds_the_filtered_responses_neutralised_masked_and_audited() -> None:
    survey, _versions = seed(count=80)
    client = Client()
    client.force_login(make_staff("ana", Role.ANALYST))
    query = {"version": "all", "period": "90d", "channel": "sms"}
    got = client.get(reverse("rules:survey_export", args=[survey.key, "csv"]), query)
    assert got.status_code == 200
    text = got.getvalue().decode("utf-8").lstrip("\ufeff")
    lines = list(csv.reader(io.StringIO(text)))
    header, body = lines[0], lines[1:]
    filters = read_filters(survey, query, NOW)
    assert len(body) == answered(filters).count()
    assert "满意吗？" in header and "还有什么建议？" in header
    assert {row[header.index("渠道")] for row in body} == {"短信"}
    phones = [row[header.index("电话")] for row in body]
    assert all(re.fullmatch(r"138\*{4}\d{4}", p) for p in phones)
    notes = [row[header.index("还有什么建议？")] for row in body]
    assert not any(note.startswith(("=", "+")) for note in notes)
    assert any(note.startswith("'=HYPERLINK") for note in notes) or "'+1 满意" in notes
    entry = Entry.objects.get(action=Entry.Action.EXPORT)
    assert entry.details["rows"] == len(body) and entry.details["revealed"] is False


def test_xlsx_export_is_neutralised_too() -> None:
    survey, _versions = seed(count=80)
    client = Client()
    client.force_login(make_staff("sup", Role.SUPERVISOR))
    got = client.get(
        reverse("rules:survey_export", args=[survey.key, "xlsx"]),
        {"version": "all", "period": "90d", "reveal": "1"},
    )
    assert got.status_code == 200
    book = zipfile.ZipFile(io.BytesIO(got.getvalue()))
    sheet = book.read("xl/worksheets/sheet1.xml").decode()
    strings = (
        book.read("xl/sharedStrings.xml").decode()
        if "xl/sharedStrings.xml" in book.namelist()
        else ""
    )
    cells = sheet + strings
    assert "<f>" not in cells  # no formula anywhere
    assert "&apos;=HYPERLINK" in cells or "'=HYPERLINK" in cells
    assert "+861380013" in cells  # revealed: the supervisor may and asked
    assert Entry.objects.get(action=Entry.Action.EXPORT).details["revealed"] is True


def test_exports_are_refused_to_agents_and_reveal_to_analysts() -> None:
    survey, _versions = seed(count=5)
    url = reverse("rules:survey_export", args=[survey.key, "csv"])
    agent = Client()
    agent.force_login(make_staff("agent", Role.AGENT))
    assert agent.get(url).status_code == 403
    analyst = Client()
    analyst.force_login(make_staff("ana", Role.ANALYST))
    assert analyst.get(url, {"reveal": "1"}).status_code == 403
    assert analyst.get(reverse("rules:survey_export", args=[survey.key, "pdf"])).status_code == 404
    assert not Entry.objects.filter(action=Entry.Action.EXPORT).exists()


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+86", "'+86"),
        ("-3", "'-3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("好", "好"),
        (5, 5),
        (None, ""),
    ],
)
def test_neutral_cells(value: Any, written: Any) -> None:
    assert neutral(value) == written
