"""Report tables (报表) as files and as figures for a page or a mail: the totals, a breakdown by
any dimension, or the trend, with every KPI as a column, in CSV or Excel (xlsx).

The figures come from ``kpis`` only, in the reader's scope; a KPI that is unknown for the
scope or has nothing to count is "—", as on the pages. Rates and scores are rounded to two
decimals. No report table lists customers: a row is a team, an agent (staff names are not
masked anywhere in Huifang), a rule, a step, a channel, a provider, a region, a business line,
a tier or a day, so there is nothing to mask; were a customer dimension added, it would go
through ``huifang.customers.pii`` here. The writing (streamed, formula cells neutralised) is
``huifang.core.exports``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponseBase
from django.utils.translation import gettext as _

from huifang.core.exports import csv_response, xlsx_response

from .kpis import DIMENSIONS, KPIS, Kpi, Row, breakdown, totals, trend
from .periods import Period
from .scope import Scope

TOTALS, TREND = "totals", "trend"
TABLES = (TOTALS, TREND, *DIMENSIONS)
FORMATS = ("csv", "xlsx")
NONE = "—"
UNITS = {"rate": "%", "points": "pp", "seconds": "s"}


class ExportError(ValueError):
    """A table or a format that cannot be exported; the message is for the user."""


def table_label(table: str) -> str:
    if table == TOTALS:
        return _("Totals")
    if table == TREND:
        return _("Trend")
    return _("By %(dimension)s") % {"dimension": str(DIMENSIONS[table].label).lower()}


def check(table: str, fmt: str = "csv") -> None:
    if table not in TABLES:
        raise ExportError(
            _("Unknown table: %(table)s. Choose totals, trend or a dimension: %(choices)s.")
            % {"table": table or "—", "choices": ", ".join(DIMENSIONS)}
        )
    if fmt not in FORMATS:
        raise ExportError(
            _("Unknown format: %(format)s. Choose csv or xlsx.") % {"format": fmt or "—"}
        )


def rows_of(table: str, period: Period, scope: Scope) -> list[Row]:
    check(table)
    if table == TOTALS:
        return [totals(period, scope)]
    if table == TREND:
        return trend(period, scope)
    return breakdown(period, scope, table)


def heading(kpi: Kpi) -> str:
    unit = UNITS.get(kpi.unit)
    return f"{kpi.label} ({unit})" if unit else str(kpi.label)


def first_column(table: str) -> str:
    if table == TOTALS:
        return _("Period")
    if table == TREND:
        return _("From")
    return str(DIMENSIONS[table].label)


def figure(value: float | None, kpi: Kpi) -> float | int | str:
    """A value as a table cell: counts whole, the rest to two decimals, unknown "—"."""
    if value is None:
        return NONE
    if kpi.unit == "count":
        return int(value)
    return round(value, 2)


@dataclass
class Table:
    key: str
    title: str
    header: list[str]
    lines: list[list[Any]]
    rows: list[Row]


def table(key: str, period: Period, scope: Scope) -> Table:
    rows = rows_of(key, period, scope)
    kpis = list(KPIS.values())
    lines: list[list[Any]] = []
    for row in rows:
        label = f"{period.first} – {period.last}" if key == TOTALS else row.label
        lines.append([label, *(figure(row.values.get(k.key), k) for k in kpis)])
    header = [first_column(key), *(heading(k) for k in kpis)]
    return Table(key, table_label(key), header, lines, rows)


def _lines(made: Table) -> Iterator[list[Any]]:
    yield made.header
    yield from made.lines


def export(key: str, fmt: str, period: Period, scope: Scope) -> HttpResponseBase:
    check(key, fmt)
    made = table(key, period, scope)
    name = f"report-{key}-{period.first}-{period.last}"
    if fmt == "xlsx":
        return xlsx_response(_lines(made), name, made.title)
    return csv_response(_lines(made), name)


def choice(params: Mapping[str, str]) -> tuple[str, str]:
    """The table and format a request asks for; ``ExportError`` names what is wrong."""
    key, fmt = params.get("table") or "", params.get("format") or "csv"
    check(key, fmt)
    return key, fmt
