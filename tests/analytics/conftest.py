"""Figures shared by the report tests: rollup rows written as the rollup would."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from huifang.accounts.models import Team
from huifang.accounts.roles import Role
from huifang.analytics.models import AnswerDay, MessageDay, TaskDay
from huifang.analytics.rollup import cut_day
from tests.conftest import make_staff

EVIL_CITY = '=HYPERLINK("http://x")'


@pytest.fixture
def figures() -> dict[str, Any]:
    """Two teams, an agent in each, a week of messages, tasks and answers."""
    north = Team.objects.create(key="north", name="北区")
    south = Team.objects.create(key="south", name="南区")
    li = make_staff("li", Role.AGENT, team=north)
    wang = make_staff("wang", Role.AGENT, team=south)
    for offset, team, agent, city in ((0, north, li, "杭州"), (3, south, wang, EVIL_CITY)):
        day = date(2026, 11, 2 + offset)
        MessageDay.objects.create(
            day=day, rule_id=None, step="s1", channel="sms", provider_id=None, team_id=team.pk,
            province="浙江", city=city, business_line="", tier="", reason="",
            created=10 + offset, queued=10, sent=9 + offset, delivered=8, failed=1, clicked=3,
            replied=2,
        )  # fmt: skip
        TaskDay.objects.create(
            day=day, team_id=team.pk, assignee_id=agent.pk, rule_id=None, step="call",
            opened=5 + offset, done=4, with_due=4, on_time=3, reached=3, not_reached=1,
            handled=4, handling_seconds=600,
        )  # fmt: skip
        AnswerDay.objects.create(
            day=day, version_id=1, channel="sms", rule_id=None, team_id=team.pk,
            province="浙江", city=city, opened=6, answered=5, csat_n=5, csat_ok=4, nps_n=5,
            promoters=3, detractors=1, ces_n=0,
        )  # fmt: skip
        cut_day(day)
    return {"north": north, "south": south, "li": li, "wang": wang}
