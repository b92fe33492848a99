"""The cut tables checked against the rollups they sum: shared by the property tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from huifang.analytics import kpis
from huifang.analytics.periods import Period
from huifang.analytics.scope import Scope

# The queries the pages make: totals, the trend at each grain, a breakdown by every dimension.
GROUPS: tuple[str | None, ...] = (None, "bucket", *kpis.DIMENSIONS)
PERIODS = (
    Period(date(2026, 10, 25), date(2027, 4, 30), "month"),
    Period(date(2026, 10, 26), date(2026, 11, 29), "week"),
    Period(date(2026, 11, 3), date(2026, 11, 12)),
)


def assert_the_cuts_give_the_rollups_sums(scopes: Iterable[Scope]) -> None:
    """Every sum of every KPI's measures that the pages read through the cut tables equals the
    same sum read from the rollups' own rows, and the same figures are unknown."""
    chosen = list(kpis.KPIS.values())
    for period in PERIODS:
        for scope in scopes:
            for group in GROUPS:
                unknown: dict[bool, set[str]] = {True: set(), False: set()}
                read = {
                    fine: kpis._aggregate(
                        period, scope, {}, chosen, group, unknown[fine], fine=fine
                    )
                    for fine in (True, False)
                }
                assert read[False] == read[True], (period, scope, group)
                assert unknown[False] == unknown[True], (period, scope, group)
                # The figures compared rule by rule (the conversion baseline): by rule too.
                strata = {
                    fine: {
                        key: {name: sorted(map(repr, each)) for name, each in kept.items()}
                        for key, kept in kpis._strata(
                            period, scope, {}, chosen, group, fine=fine
                        ).items()
                    }
                    for fine in (True, False)
                }
                assert strata[False] == strata[True], (period, scope, group)

    assert_one_filter_is_read_from_the_cuts(scopes)


def assert_one_filter_is_read_from_the_cuts(scopes: Iterable[Scope]) -> None:
    """A filter on one dimension (a value it has, and none) read through the cut tables: a
    drill-down list's total (``measure_total``), and the breakdown by team and by the same
    dimension, equal the rollups' own sums."""
    period = PERIODS[0]
    for scope in scopes:
        for name, dimension in kpis.DIMENSIONS.items():
            for source, column in dimension.columns.items():
                found = kpis.ROLLUPS[source].objects.values_list(column, flat=True).distinct()
                kept = sorted({"" if v is None else v for v in found}, key=str)[:2]
                chosen = [k for k in kpis.KPIS.values() if k.sources == (source,)][:1]
                for value in {*kept, ""}:
                    filters = {name: value}
                    fine = kpis._aggregate(period, scope, filters, chosen, None, fine=True)
                    for measure in kpis._measures(source)[:3]:
                        total = kpis.measure_total(source, measure, period, scope, filters)
                        wanted = fine.get(None, {}).get(f"{source}.{measure}", 0)
                        assert total in (wanted, None), (scope, filters, measure)
                    for group in (None, "bucket", "team", name):
                        read = {
                            fine: kpis._aggregate(
                                period, scope, filters, chosen, group, set(), fine=fine
                            )
                            for fine in (True, False)
                        }
                        assert read[False] == read[True], (scope, filters, group)
