"""Report tables as CSV and xlsx: the figures of ``kpis``, in the reader's scope, formula cells
neutralised, every export in the audit log, refused to agents, bad parameters a 400 that says
what is wrong."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from typing import Any
from xml.etree import ElementTree

import pytest
from django.test import Client
from django.urls import reverse

from huifang.accounts.roles import Role
from huifang.analytics import kpis
from huifang.analytics.exports import NONE, figure
from huifang.analytics.periods import Period
from huifang.analytics.scope import ALL, scope_for
from huifang.audit.models import Entry
from tests.analytics.conftest import EVIL_CITY
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db

PERIOD = {"from": "2026-11-01", "to": "2026-11-07", "grain": "day"}


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def read_csv(got: Any) -> list[list[str]]:
    text = b"".join(got.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def read_xlsx(got: Any) -> list[list[Any]]:
    """The first sheet's cells (XlsxWriter's constant-memory mode writes inline strings)."""
    book = zipfile.ZipFile(io.BytesIO(b"".join(got.streaming_content)))
    sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # no formula anywhere
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    rows = []
    for row in ElementTree.fromstring(sheet).iter(  # noqa: S314 - our own file
        f"{{{ns['m']}}}row"
    ):
        cells: list[Any] = []
        for cell in row.findall("m:c", ns):
            if cell.get("t") == "inlineStr":
                cells.append("".join(t.text or "" for t in cell.iter(f"{{{ns['m']}}}t")))
            else:
                value = cell.find("m:v", ns)
                cells.append(float(value.text) if value is not None and value.text else "")
        rows.append(cells)
    return rows


def expected(row: kpis.Row) -> list[Any]:
    return [figure(row.values[k.key], k) for k in kpis.KPIS.values()]


def as_text(values: list[Any]) -> list[str]:
    return [str(v) for v in values]


def test_csv_totals_are_the_kpis_figures_and_the_export_is_audited(
    figures: dict[str, Any],
) -> None:
    analyst = make_staff("ana", Role.ANALYST)
    got = signed_in(analyst).get(reverse("reports:export"), {"table": "totals", **PERIOD})
    assert got.status_code == 200
    assert got["Content-Disposition"] == (
        'attachment; filename="report-totals-2026-11-01-2026-11-07.csv"'
    )
    header, line = read_csv(got)
    assert header[1:] == [
        str(k.label) + {"rate": " (%)", "points": " (pp)", "seconds": " (s)"}.get(k.unit, "")
        for k in kpis.KPIS.values()
    ]
    row = kpis.totals(Period(date(2026, 11, 1), date(2026, 11, 7)), ALL)
    assert line[1:] == as_text(expected(row))
    assert line[header.index(str(kpis.KPIS["sent"].label))] == "21"  # 9 + 12 messages sent
    assert line[header.index("CES")] == NONE  # no CES answers: nothing to count, not 0
    entry = Entry.objects.get(action=Entry.Action.EXPORT)
    assert entry.actor == "ana" and entry.object_id == "totals"
    assert entry.details == {
        "table": "totals",
        "format": "csv",
        "period": PERIOD,
        "scope": "all",
        "teams": [],
    }


def test_xlsx_breakdown_by_city_equals_kpis_and_neutralises_formula_cells(
    figures: dict[str, Any],
) -> None:
    admin = make_staff("boss", Role.ADMIN)
    got = signed_in(admin).get(
        reverse("reports:export"), {"table": "city", "format": "xlsx", **PERIOD}
    )
    assert got.status_code == 200
    assert got["Content-Type"].startswith("application/vnd.openxmlformats")
    header, *lines = read_xlsx(got)
    assert header[0] == "城市"
    rows = kpis.breakdown(Period(date(2026, 11, 1), date(2026, 11, 7)), ALL, "city")
    assert [line[0] for line in lines] == ["'" + EVIL_CITY, "杭州"]  # neutralised, in order
    for line, row in zip(lines, rows, strict=True):
        want = [v if v == NONE else float(v) for v in expected(row)]
        assert line[1:] == want


def test_trend_by_day_has_every_bucket(figures: dict[str, Any]) -> None:
    admin = make_staff("boss", Role.ADMIN)
    got = signed_in(admin).get(reverse("reports:export"), {"table": "trend", **PERIOD})
    _header, *lines = read_csv(got)
    assert [line[0] for line in lines] == [f"2026-11-0{d}" for d in range(1, 8)]
    rows = kpis.trend(Period(date(2026, 11, 1), date(2026, 11, 7)), ALL)
    assert [line[1:] for line in lines] == [as_text(expected(r)) for r in rows]


def test_a_supervisor_exports_the_figures_of_their_teams_only(figures: dict[str, Any]) -> None:
    supervisor = make_staff("zhou", Role.SUPERVISOR, team=figures["north"])
    got = signed_in(supervisor).get(reverse("reports:export"), {"table": "agent", **PERIOD})
    _header, *lines = read_csv(got)
    assert [line[0] for line in lines] == ["Li"]  # Wang is in the south team
    scope = scope_for(supervisor)
    rows = kpis.breakdown(Period(date(2026, 11, 1), date(2026, 11, 7)), scope, "agent")
    assert [line[1:] for line in lines] == [as_text(expected(r)) for r in rows]
    assert Entry.objects.get(action=Entry.Action.EXPORT).details["teams"] == [figures["north"].pk]


def test_agents_may_not_export(figures: dict[str, Any]) -> None:
    got = signed_in(figures["li"]).get(reverse("reports:export"), {"table": "totals"})
    assert got.status_code == 403
    assert not Entry.objects.filter(action=Entry.Action.EXPORT).exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"table": "customers"}, "未知的报表"),
        ({"table": "totals", "format": "pdf"}, "未知的格式"),
        ({"table": "totals", "from": "2026-11-01"}, "请同时填写"),
        ({"table": "totals", "from": "2026-13-01", "to": "2026-11-02"}, "不是日期"),
        ({"table": "totals", "period": "1000d"}, "未知的周期"),
    ],
)
def test_bad_parameters_are_a_400_that_says_what_is_wrong(
    params: dict[str, str], message: str
) -> None:
    analyst = make_staff("ana", Role.ANALYST)
    got = signed_in(analyst).get(reverse("reports:export"), params)
    assert got.status_code == 400
    assert message in got.content.decode()
    assert not Entry.objects.filter(action=Entry.Action.EXPORT).exists()
