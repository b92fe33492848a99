"""schemathesis over the whole OpenAPI of ``/api/`` (issue 17), against the real app through
its WSGI handler, with an API token and schemathesis' checks: no 500, every status, content
type, header and body as the schema documents them, schema-invalid input refused, the token
not ignored.

One check is configured, narrowly: ``positive_data_acceptance`` expects every body the schema
allows to be accepted, but the schema cannot say everything the services check. Such bodies
are refused, by design, with a documented answer: 400 for text holding NUL (no database
stores it) and JSON nested past ``HUIFANG_JSON_MAX_DEPTH``, 404 for an event of a customer
that does not exist, 413 for a batch over ``API_BATCH_MAX_ROWS``, 422 for meaning the schema
cannot express (a phone number that is not one, an unknown event type or time zone, a date
outside 1900–2199, custom data over its limits).

The number of examples is kept small (``MAX_EXAMPLES``) so the whole run stays well under a
minute on a CI machine; the seed is fixed, so a failure found once is found again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from huifang.accounts.models import ApiToken, TokenScope
from huifang.wsgi import application

MAX_EXAMPLES = 15

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 17,
        "generation": {"max-examples": MAX_EXAMPLES},
        "checks": {
            # See the module's docstring: the services refuse what the schema cannot express.
            "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "404", "413", "422"]}
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
def reveal_token(db: None) -> str:
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
