"""Several schedulers and several supervisors at the same moment on PostgreSQL: a scheduled
switch runs once, and two switches at once leave exactly one active set. (SQLite has one
writer at a time, so there is nothing to race there.)"""

from __future__ import annotations

import pytest

from huifang.rules.models import Rule, RuleChange, ScheduledSwitch, StrategySet
from huifang.studio.sets import run_due_switches, switch_to
from tests.concurrency import needs_postgres, side_by_side
from tests.engine.world import World, local

from .test_sets import DAILY, PROMO, SURVEY

pytestmark = [*needs_postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 4


@pytest.fixture
def sets() -> list[StrategySet]:
    world = World(local("2026-06-01 09:00"))
    rules = [world.rule(DAILY), world.rule(SURVEY), world.rule(PROMO, active=False)]
    made = []
    for n, members in enumerate([rules[:2], rules[1:], rules[2:], []]):
        strategy_set = StrategySet.objects.create(key=f"set-{n}", name=f"策略组 {n}")
        strategy_set.rules.set(members)
        made.append(strategy_set)
    return made


def test_four_schedulers_switch_once(sets: list[StrategySet]) -> None:
    ScheduledSwitch.objects.create(strategy_set=sets[1], at=local("2026-06-18 00:00"))
    handled = side_by_side(lambda _n: run_due_switches(local("2026-06-18 00:01")), WORKERS)
    assert sorted(len(h) for h in handled) == [0, 0, 0, 1]
    assert ScheduledSwitch.objects.get().status == ScheduledSwitch.Status.DONE
    assert RuleChange.objects.filter(action=RuleChange.Action.SWITCHED).count() == 1
    assert RuleChange.objects.filter(action=RuleChange.Action.PAUSED).count() == 1


def test_switches_at_once_leave_one_active_set(sets: list[StrategySet]) -> None:
    side_by_side(lambda n: switch_to(sets[n], comment=f"worker {n}"), WORKERS)
    (active,) = StrategySet.objects.filter(is_active=True)
    # The rules are exactly those of the set that switched last.
    running = set(Rule.objects.filter(status=Rule.Status.ACTIVE).values_list("pk", flat=True))
    assert running == {r.pk for r in active.rules.exclude(status=Rule.Status.ARCHIVED)}
