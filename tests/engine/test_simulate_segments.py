"""The simulation looks at a segment rule only when its members may have changed (a customer's
data changed, or the clock turned a condition counted back from now): it must find exactly
what evaluating every rule every hour finds, with far fewer evaluations."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from huifang.demo.generator import generate
from huifang.engine.lifecycle import activate
from huifang.rules.document import parse_rule
from huifang.rules.services import save_rule
from huifang.studio import simulate as simulation

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)
RECENT_BUYERS = {
    "key": "recent-buyers",
    "name": "近期购买",
    # In while the last purchase is at most 5 days old (purchases arriving move customers in,
    # the clock moves them out), among customers born before a day counted back from now.
    "trigger": {
        "kind": "segment",
        "where": {"field": "last_purchase_at", "op": "within_last_days", "value": 5},
    },
    "audience": {
        "any": [
            {"field": "birthday", "op": "before_days", "value": 9000},
            {"field": "birthday", "op": "is_empty", "value": True},
        ]
    },
    "policy": {"reenroll_after": {"days": 1}},
    "steps": [{"id": "hello", "send": {"channel": "sms", "template": "thanks"}}],
}
RULES = ["dormant-reactivation", "recent-buyers", "retail-after-purchase"]


def run(monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], int]:
    looked: Counter[str] = Counter()
    evaluate = simulation.evaluate

    def counted(rule: Any, now: datetime, **kwargs: Any) -> int:
        looked[rule.key] += 1
        return evaluate(rule, now, **kwargs)

    monkeypatch.setattr(simulation, "evaluate", counted)
    report = simulation.simulate(NOW, 21, rules=RULES, project=True)
    monkeypatch.setattr(simulation, "evaluate", evaluate)
    return report, sum(looked.values())


def test_looking_only_when_members_may_change_finds_what_every_hour_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    generate(customers=150, seed=11, now=NOW, parallel=False, log=lambda _line: None)
    saved = save_rule(parse_rule(RECENT_BUYERS), comment="test")
    activate(saved.rule, saved.version, now=NOW)

    skipping, looks = run(monkeypatch)
    # As before: every segment rule evaluated every hour.
    monkeypatch.setattr(simulation, "next_change", lambda current, after: after)
    hourly, every_hour = run(monkeypatch)

    assert skipping == hourly
    assert every_hour >= 2 * 21 * 24  # every hour, and at the start of each day
    assert looks < every_hour / 3, (looks, every_hour)
    # Both kinds of change happened: customers entered after a purchase arrived, and the
    # dormant rule found customers whose last purchase turned 90 days old.
    outcomes = skipping["outcomes"]
    assert sum(outcomes["recent-buyers"].values()) > 0
    assert sum(outcomes["dormant-reactivation"].values()) > 0
    assert skipping["projected"]["count"] > 0
