"""A small history for the analytics pages: two teams, their agents and customers, messages,
tasks and questionnaire responses over November 2026, rolled up with ``rollup.rebuild``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from huifang.accounts.models import Team
from huifang.accounts.roles import Role
from huifang.analytics.rollup import rebuild
from huifang.customers.models import Customer
from huifang.messaging.models import Message
from huifang.surveys.models import Response, Survey, SurveyVersion
from huifang.tasks.models import Task
from tests.conftest import make_staff

# 02:00 UTC: 10:00 in Shanghai, well inside each local day.
START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


@dataclass
class History:
    service: Team
    sales: Team
    bob: Any
    erin: Any
    service_customers: list[Customer]
    sales_customers: list[Customer]


def seed(service: Team, bob: Any, carol: Any) -> History:
    """Service team (supervised by carol, agent bob): 6 customers in 广东 深圳; sales team (agent
    erin): 4 customers in 浙江 杭州. Each customer gets a message a day for 5 days, a task and
    a questionnaire answer."""
    service.supervisor = carol
    service.save()
    sales = Team.objects.create(key="sales", name="销售二组")
    erin = make_staff("erin", Role.AGENT, team=sales)
    groups = [
        (bob, "广东", "深圳", 6, "1380013"),
        (erin, "浙江", "杭州", 4, "1390013"),
    ]
    made: list[list[Customer]] = []
    survey = Survey.objects.create(key="after-sale", name="售后回访")
    version = SurveyVersion.objects.create(survey=survey, number=1, content={})
    for agent, province, city, count, prefix in groups:
        customers = []
        for i in range(count):
            customer = Customer.objects.create(
                name=f"{city}客户{i}",
                phone=f"+86{prefix}{i:04d}",
                province=province,
                city=city,
                owner=agent,
            )
            customers.append(customer)
            team = agent.staff_profile.team
            for d in range(5):
                moment = START + timedelta(days=d)
                Message.objects.create(
                    customer=customer,
                    template="t",
                    channel="sms",
                    planned_at=moment,
                    created_at=moment,
                    sent_at=moment,
                    delivered_at=moment + timedelta(minutes=1) if (i + d) % 3 else None,
                    status="delivered" if (i + d) % 3 else "sent",
                )
            done = i % 2 == 0
            Task.objects.create(
                customer=customer,
                team=team,
                assignee=agent,
                title=f"回访 {customer.name}",
                created_at=START,
                due_at=START + timedelta(days=2),
                status="done" if done else "open",
                outcome="reached" if done else "",
                closed_at=START + timedelta(days=1) if done else None,
            )
            Response.objects.create(
                version=version,
                customer=customer,
                channel="sms",
                team_id=team.pk,
                started_at=START + timedelta(days=1),
                submitted_at=START + timedelta(days=1),
                csat=5 - i % 3,
                nps=10 - 2 * i,
            )
        made.append(customers)
    rebuild(None, None, NOW)
    return History(service, sales, bob, erin, made[0], made[1])
