"""Survey scores stay on their own scales: CSAT 1–5, NPS 0–10, CES 1–7, each with its latest
value and its 12-month average on the customer, and each usable in a condition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.customers import derived
from huifang.customers.event_scores import ScoreInvalid
from huifang.customers.events import record_events
from huifang.customers.models import Customer, Event
from huifang.customers.services import ingest_events
from huifang.rules.conditions import compile_condition
from huifang.studio.builder import field_label

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def answer(days_ago: float, external_id: str = "C-1", /, **scores: Any) -> dict[str, Any]:
    return {
        "type": "survey_answered",
        "customer_external_id": external_id,
        "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
        "properties": scores,
    }


def figures(customer: Customer) -> dict[str, Any]:
    customer.refresh_from_db()
    return {
        field: getattr(customer, field)
        for field in ("last_satisfaction", "csat_12m", "last_nps", "nps_12m", "last_ces", "ces_12m")
    }


def test_each_measure_keeps_its_latest_value_and_its_year_average(customer: Customer) -> None:
    result = ingest_events(
        [
            answer(30, csat=2),
            answer(5, score=4),  # the older name of CSAT
            answer(20, nps=9),
            answer(2, nps=3),
            answer(400, nps=0),  # older than a year: not in the average
        ],
        now=NOW,
    )
    assert not result.errors
    assert figures(customer) == {
        "last_satisfaction": 4,
        "csat_12m": Decimal("3.00"),
        "last_nps": 3,
        "nps_12m": Decimal("6.00"),
        "last_ces": None,
        "ces_12m": None,
    }


def test_an_average_is_rounded_to_two_places(customer: Customer) -> None:
    ingest_events([answer(1, ces=7), answer(2, ces=6), answer(3, ces=6)], now=NOW)
    assert figures(customer)["ces_12m"] == Decimal("6.33")
    assert figures(customer)["last_ces"] == 7


def test_an_nps_of_nine_never_becomes_the_satisfaction_score(customer: Customer) -> None:
    ingest_events([answer(10, csat=2)], now=NOW)
    ingest_events([answer(1, nps=9)], now=NOW)
    assert figures(customer)["last_satisfaction"] == 2
    assert figures(customer)["csat_12m"] == Decimal("2.00")
    assert figures(customer)["last_nps"] == 9


def test_one_answer_may_carry_all_three_scores(customer: Customer) -> None:
    ingest_events([answer(1, csat=5, nps=10, ces=1)], now=NOW)
    event = Event.objects.get(customer=customer)
    assert (event.score, event.nps, event.ces) == (5, 10, 1)
    assert figures(customer)["last_satisfaction"] == 5


def test_scores_age_out_of_the_year_average(customer: Customer) -> None:
    ingest_events([answer(360, nps=0), answer(10, nps=10)], now=NOW)
    assert figures(customer)["nps_12m"] == Decimal("5.00")
    derived.refresh_rolling_spend(now=NOW + timedelta(days=10))
    assert figures(customer)["nps_12m"] == Decimal("10.00")
    derived.refresh_rolling_spend(now=NOW + timedelta(days=400))
    assert figures(customer)["nps_12m"] is None
    assert figures(customer)["last_nps"] == 10  # the latest answer stays, however old


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize(
    ("properties", "field", "message"),
    [
        ({"csat": 0}, "properties.csat", "properties.csat must be a whole number from 1 to 5."),
        ({"csat": 6}, "properties.csat", "properties.csat must be a whole number from 1 to 5."),
        ({"score": 9}, "properties.score", "properties.score must be a whole number from 1 to 5."),
        ({"nps": -1}, "properties.nps", "properties.nps must be a whole number from 0 to 10."),
        ({"nps": 11}, "properties.nps", "properties.nps must be a whole number from 0 to 10."),
        ({"nps": 6.5}, "properties.nps", "properties.nps must be a whole number from 0 to 10."),
        ({"nps": "9"}, "properties.nps", "properties.nps must be a whole number from 0 to 10."),
        ({"ces": 0}, "properties.ces", "properties.ces must be a whole number from 1 to 7."),
        ({"ces": 8}, "properties.ces", "properties.ces must be a whole number from 1 to 7."),
        ({"ces": True}, "properties.ces", "properties.ces must be a whole number from 1 to 7."),
        (
            {"csat": 4, "score": 5},
            "properties.csat",
            "properties.csat and properties.score differ; give one of them.",
        ),
    ],
)
def test_a_score_off_its_scale_is_refused_and_nothing_is_written(
    customer: Customer, properties: dict[str, Any], field: str, message: str
) -> None:
    # The other scores of the same answer are good: the whole event is refused all the same.
    good = {"csat": 4, "nps": 8, "ces": 2}
    for name in properties:
        good.pop(name, None)
    result = ingest_events([answer(1, **good, **properties), answer(2, nps=9)], now=NOW)
    assert [(e.index, e.code, e.field, e.message) for e in result.errors] == [
        (0, "validation_error", field, message)
    ]
    assert list(Event.objects.values_list("nps", flat=True)) == [9]  # only the good row
    assert figures(customer)["last_satisfaction"] is None


def test_record_events_reads_the_scores_of_the_properties(customer: Customer) -> None:
    stored = record_events(
        [Event(customer=customer, type="survey_answered", occurred_at=NOW, properties={"nps": 2})],
        now=NOW,
    )
    assert (stored[0].score, stored[0].nps) == (None, 2)
    assert figures(customer)["last_nps"] == 2


@pytest.mark.usefixtures("english")
def test_record_events_stores_nothing_when_one_score_is_off_its_scale(customer: Customer) -> None:
    events = [
        Event(customer=customer, type="survey_answered", occurred_at=NOW, properties={"ces": 3}),
        Event(customer=customer, type="survey_answered", occurred_at=NOW, properties={"ces": 9}),
    ]
    with pytest.raises(ScoreInvalid, match=r"properties\.ces must be a whole number from 1 to 7"):
        record_events(events, now=NOW)
    assert not Event.objects.exists()


def test_scores_of_an_event_type_without_scores_are_not_read(customer: Customer) -> None:
    result = ingest_events(
        [{**answer(1, nps=99), "type": "message_replied"}],  # a reply quoting a number
        now=NOW,
    )
    assert not result.errors
    assert Event.objects.get().nps is None


def test_the_nps_condition_selects_the_detractors(db: None) -> None:
    answers = {"D0": 0, "D6": 6, "P7": 7, "P9": 9, "T10": 10}
    for external_id in [*answers, "NONE"]:
        Customer.objects.create(external_id=external_id, name=external_id)
    ingest_events([answer(3, external_id, nps=10) for external_id in answers], now=NOW)
    ingest_events([answer(1, key, nps=value) for key, value in answers.items()], now=NOW)
    ingest_events([answer(1, "NONE", csat=1)], now=NOW)  # a CSAT of 1 is not an NPS
    detractors = Customer.objects.filter(
        compile_condition({"field": "nps", "op": "lte", "value": 6}, now=NOW)
    )
    assert set(detractors.values_list("external_id", flat=True)) == {"D0", "D6"}
    low_average = Customer.objects.filter(
        compile_condition({"field": "nps_12m", "op": "lte", "value": 8}, now=NOW)
    )
    assert set(low_average.values_list("external_id", flat=True)) == {"D0", "D6"}
    unhappy = Customer.objects.filter(
        compile_condition({"field": "csat", "op": "lte", "value": 2}, now=NOW)
    )
    assert list(unhappy.values_list("external_id", flat=True)) == ["NONE"]


@pytest.mark.usefixtures("english")
def test_the_builder_names_the_score_fields() -> None:
    assert [field_label(name) for name in ("csat", "nps", "ces", "nps_12m")] == [
        "latest CSAT",
        "latest NPS",
        "latest CES",
        "average NPS, last 12 months",
    ]


def test_the_api_returns_the_figures_and_refuses_an_nps_of_eleven(
    post_json: Any, api: Client, customer: Customer
) -> None:
    response = post_json("/api/v1/events", answer(1, nps=11))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "properties.nps"
    assert "properties.nps" in response.json()["error"]["message"]
    assert post_json("/api/v1/events", answer(1, nps=9, ces=5)).status_code == 201
    body = api.get("/api/v1/customers/C-1").json()
    assert (body["last_satisfaction"], body["last_nps"], body["last_ces"]) == (None, 9, 5)
    assert (Decimal(body["nps_12m"]), Decimal(body["ces_12m"])) == (Decimal(9), Decimal(5))


def test_the_customer_page_shows_each_score_with_its_average(
    alice_client: Client, customer: Customer
) -> None:
    ingest_events([answer(1, csat=4, nps=6), answer(2, nps=9, ces=3)], now=NOW)
    page = alice_client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    nps = page[page.index('id="figure-nps"') :][:400]  # the site speaks Chinese
    assert "最近 NPS (0–10)" in nps and '<div class="value">6</div>' in nps
    assert "近12个月平均 7.50" in nps
    assert "CSAT 4" in page and "NPS 9" in page and "CES 3" in page  # the timeline's badges


measures = st.sampled_from([("csat", 1, 5), ("nps", 0, 10), ("ces", 1, 7)])
answers = st.lists(
    measures.flatmap(
        lambda m: st.tuples(st.just(m[0]), st.integers(m[1], m[2]), st.integers(0, 500))
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(given_answers=answers)
def test_each_figure_is_made_of_its_own_measure_only(
    customer: Customer, given_answers: list[tuple[str, int, int]]
) -> None:
    Event.objects.all().delete()
    derived.refresh([customer.pk], now=NOW)
    ingest_events(
        [answer(days, **{name: value}) for name, value, days in given_answers],
        now=NOW,
    )
    got = figures(customer)
    for name, latest, average in (
        ("csat", "last_satisfaction", "csat_12m"),
        ("nps", "last_nps", "nps_12m"),
        ("ces", "last_ces", "ces_12m"),
    ):
        mine = [(days, value) for n, value, days in given_answers if n == name]
        # The newest answer; on a tie of time, the one stored last (the later in the batch).
        newest = min(range(len(mine)), key=lambda i: (mine[i][0], -i), default=None)
        assert got[latest] == (None if newest is None else mine[newest][1])
        recent = [value for days, value in mine if days < 365]
        expected = (
            None
            if not recent
            else (Decimal(sum(recent)) / len(recent)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        )
        assert got[average] == expected
