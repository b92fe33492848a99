"""schemathesis over the whole OpenAPI of ``/api/`` (issues 17 and 21), against the real app
through its WSGI handler, with an API token and schemathesis' checks: no 500, every status,
content type, header and body as the schema documents them, schema-invalid input refused, the
token not ignored. A few rows of each kind are there (a customer with a task, a message with its
attempts, a template, a rule, a questionnaire with a response, an import), so the lists answer
with real items and their shapes are checked too.

The schema says what it can: required fields, non-empty batches, an event that names its
customer (``customer_external_id`` or ``customer``), ISO 8601 times with an offset, enumerated
statuses, bounded limits and days. One check is configured, narrowly:
``positive_data_acceptance`` expects every request the schema allows to be accepted, but the
schema cannot say everything the services check. Such requests are refused, by design, with a
documented answer:

- 400 for text holding NUL (no database stores it), JSON nested past
  ``HUIFANG_JSON_MAX_DEPTH``, and a ``cursor`` that no list gave out (it is signed);
- 404 for a row that is not there: a customer by external id (also the customer of an event or
  a new task), a task, message, template, rule, questionnaire or import by its id or key;
- 409 for a change the row's state does not allow now: an outcome for a closed task, pausing
  a rule that is not running, running an import that is not checked;
- 413 for a batch over ``API_BATCH_MAX_ROWS``;
- 422 for meaning the schema cannot express: a new customer without ``name`` (an update may
  leave it out), a phone number that is not one, an unknown event type, team, assignee or time
  zone, a date outside 1900–2199, custom data over its limits, a task script that is not a
  valid template, an outcome whose fields do not hold together (a score for a customer not
  reached), columns of an import that fill nothing useful.

The number of examples is kept small (``MAX_EXAMPLES``) so the whole run stays near a minute on
a CI machine; the seed is fixed, so a failure found once is found again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from huifang.accounts.models import ApiToken, Team, TokenScope
from huifang.customers.models import Customer
from huifang.imports.models import Import
from huifang.messaging.models import Attempt, Message
from huifang.messaging.services import save_template
from huifang.rules.document import parse_rule
from huifang.rules.services import save_rule
from huifang.surveys.document import load_survey_text
from huifang.surveys.models import Response
from huifang.surveys.services import save_survey
from huifang.tasks.models import Task
from huifang.wsgi import application
from tests.surveys.answering import FLOW

MAX_EXAMPLES = 15
READ_EXAMPLES = 8

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 17,
        "generation": {"max-examples": MAX_EXAMPLES},
        # Reads take a few query parameters each: fewer examples cover them.
        "operations": [
            {"include-method": "GET", "generation": {"max-examples": READ_EXAMPLES}},
        ],
        "checks": {
            # See the module's docstring: the services refuse what the schema cannot express.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "404", "409", "413", "422"]
            }
        },
    }
)


# Loaded when the module is collected, from the app itself (the schema endpoint reads no
# database); schemathesis' lazy ``from_fixture`` loader does not run on pytest 9.
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application, config=CONFIG)


@pytest.fixture(autouse=True)
def one_connection() -> Iterator[None]:
    """Requests go through the real WSGI handler, which closes the database connection after
    each (on PostgreSQL that ends the test's transaction): keep it, as Django's test client
    does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def rows(db: None) -> None:
    """A few rows of each kind the API lists."""
    now = timezone.now()
    customer = Customer.objects.create(
        external_id="C-1", name="王小明", phone="+8613800138000", email="wang@example.cn"
    )
    team = Team.objects.create(key="service", name="客服一组")
    Task.objects.create(customer=customer, title="回访", team=team, due_at=now)
    message = Message.objects.create(
        customer=customer,
        template="thanks",
        channel="sms",
        channels=["sms"],
        status=Message.Status.SENT,
        body="您好 +8613800138000",
        planned_at=now,
        created_at=now,
    )
    Attempt.objects.create(message=message, number=1, started_at=now, outcome=Attempt.Outcome.SENT)
    save_template("thanks", "sms", name="感谢", body="谢谢 {{ 客户姓名 }}")
    save_rule(parse_rule(WELCOME))
    version = save_survey(load_survey_text(FLOW)).version
    Response.objects.create(version=version, customer=customer, answers={"csat": 5}, csat=5)
    Import.objects.create(
        kind=Import.Kind.CUSTOMERS,
        file_name="a.csv",
        status=Import.Status.DRAFT,
        policy=Import.Policy.SKIP,
        summary={"headers": ["姓名"]},
        data="姓名\n王\n".encode(),
        created_at=now,
    )


WELCOME = {
    "key": "welcome",
    "name": "购买欢迎",
    "trigger": {"kind": "event", "event": "purchase"},
    "steps": [{"id": "hello", "send": {"channel": "sms", "template": "thanks"}}],
}


@pytest.fixture
def reveal_token(rows: None) -> str:
    """A token whose scope allows every operation (reveal is write and more): with a narrower
    one an operation's 403 would say nothing about the operation (tests/api test the scopes)."""
    _token, secret = ApiToken.issue(name="order system", scope=TokenScope.REVEAL)
    return secret


# One token and one database transaction for all the examples of an operation: what they
# write accumulates, as it would on a real server.
@schema.parametrize()
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_api_answers_as_its_schema_says(case: Any, reveal_token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {reveal_token}"})
