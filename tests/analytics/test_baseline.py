"""The conversion baseline and the uplift over it, rule by rule (docs/metrics.md §12), on
hand-made daily rollups whose figures can be worked out on paper."""

from __future__ import annotations

from datetime import date

import pytest

from huifang.analytics import kpis
from huifang.analytics.models import TaskDay
from huifang.analytics.periods import Period
from huifang.analytics.rollup import cut_day
from huifang.analytics.scope import ALL
from huifang.analytics.views import shown
from huifang.rules.models import Rule

DAY = date(2026, 11, 10)
WEEK = Period(date(2026, 11, 9), date(2026, 11, 15))
# Per rule: reached, of them bought within 30 days, closed unreached, of them bought.
FIGURES = {
    "a": (10, 8, 20, 2),  # baseline 10 %: expected 1 of the 10, 8 bought → +70 pp
    "b": (30, 6, 10, 2),  # baseline 20 %: expected 6 of the 30, 6 bought → 0 pp
    "c": (4, 4, 0, 0),  # every follow-up reached the customer: no baseline
    "d": (0, 0, 4, 4),  # none reached: nothing to weigh its baseline by
}


@pytest.fixture
def rules(db: None) -> dict[str, Rule]:
    found = {key: Rule.objects.create(key=key, name=f"策略 {key}") for key in FIGURES}
    for key, (reached, converted, pool, bought) in FIGURES.items():
        # Half in each of two teams' rows: a rule's rows are summed before they are weighed.
        for team in (1, 2):
            TaskDay.objects.create(
                day=DAY, team_id=team, rule_id=found[key].pk, step="call", done=reached // 2,
                reached=reached // 2, converted_30=converted // 2, baseline_pool=pool // 2,
                baseline_converted_30=bought // 2,
            )  # fmt: skip
    cut_day(DAY)  # the cut tables the pages read, from these rows
    return found


def test_the_baseline_weighs_each_rules_rate_by_its_reached_follow_ups(
    rules: dict[str, Rule],
) -> None:
    keys = ["conversion_30", "baseline_30", "uplift_30"]
    values = kpis.totals(WEEK, ALL, kpis=keys).values
    # (8 + 6 + 4) of 44 reached; baseline (10 × 10 % + 30 × 20 %) ÷ 40 — rule c has no pool
    # and rule d no reached follow-up, so neither weighs in (pooled, it would be 8 of 34).
    assert values["conversion_30"] == pytest.approx(100 * 18 / 44)
    assert values["baseline_30"] == pytest.approx(17.5)
    # Uplift over the rules with a baseline: (8 + 6 − (1 + 6)) ÷ 40.
    assert values["uplift_30"] == pytest.approx(17.5)
    assert shown(kpis.KPIS["uplift_30"], values["uplift_30"]) == "+17.5 个百分点"


def test_by_rule_each_rule_is_its_own_baseline_and_one_without_a_pool_shows_a_dash(
    rules: dict[str, Rule],
) -> None:
    keys = ["baseline_30", "uplift_30"]
    rows = {r.key: r.values for r in kpis.breakdown(WEEK, ALL, "rule", kpis=keys)}
    assert rows[rules["a"].pk] == pytest.approx({"baseline_30": 10.0, "uplift_30": 70.0})
    assert rows[rules["b"].pk] == pytest.approx({"baseline_30": 20.0, "uplift_30": 0.0})
    for key in ("c", "d"):
        assert rows[rules[key].pk] == {"baseline_30": None, "uplift_30": None}
    assert shown(kpis.KPIS["baseline_30"], rows[rules["c"].pk]["baseline_30"]) == "—"
    # By team, each team's rules are weighed by that team's reached follow-ups.
    for row in kpis.breakdown(WEEK, ALL, "team", kpis=keys):
        assert row.values == pytest.approx({"baseline_30": 17.5, "uplift_30": 17.5})


def test_without_any_rule_to_compare_with_there_is_no_baseline(db: None) -> None:
    TaskDay.objects.create(day=DAY, step="call", done=4, reached=4, converted_30=1)
    cut_day(DAY)
    values = kpis.totals(WEEK, ALL, kpis=["conversion_30", "baseline_30", "uplift_30"]).values
    assert values == {"conversion_30": 25.0, "baseline_30": None, "uplift_30": None}


@pytest.mark.parametrize(
    ("strata", "baseline", "uplift"),
    [
        ([], None, None),
        ([{"reached": 4, "converted_30": 2, "baseline_pool": 0}], None, None),
        ([{"reached": 0, "baseline_pool": 3, "baseline_converted_30": 3}], None, None),
        (
            [
                {"reached": 1, "converted_30": 1, "baseline_pool": 4, "baseline_converted_30": 1},
                {"reached": 3, "converted_30": 0, "baseline_pool": 1, "baseline_converted_30": 1},
            ],
            100 * (1 * 0.25 + 3 * 1.0) / 4,
            100 * (1 - 3.25) / 4,
        ),
    ],
)
def test_the_weighted_arithmetic(
    strata: list[dict[str, int]], baseline: float | None, uplift: float | None
) -> None:
    assert kpis.KPIS["baseline_30"].weighted(strata) == pytest.approx(baseline)
    assert kpis.KPIS["uplift_30"].weighted(strata) == pytest.approx(uplift)
