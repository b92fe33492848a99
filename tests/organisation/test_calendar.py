"""The holiday calendar page: a year at a glance, marking days with a click, importing a
year's official schedule (all of it or nothing), and the warning about years not covered."""

from __future__ import annotations

from datetime import UTC, date, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import translation

from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.models import CalendarDay, CalendarYear

pytestmark = pytest.mark.django_db

URL = "/settings/organisation/calendar/"
SCHEDULE_2027 = """\
# 国务院办公厅关于2027年部分节假日安排的通知（示例）
date,kind,name
2027-01-01,holiday,元旦
2027-02-06..2027-02-12,休,春节
2027-02-14,班,春节调休
2027-02-20，workday，春节调休
"""


def day_button(html: str, day: str) -> str:
    start = html.index(f'id="day-{day}"')
    return html[html.rindex("<button", 0, start) : html.index("</button>", start)]


def toggle(client: Client, day: str, **extra: Any) -> Any:
    return client.post(f"{URL}day/", {"date": day, **extra}, HTTP_HX_REQUEST="true")


def import_text(client: Client, text: str, **extra: Any) -> Any:
    data = {"import-text": text, "import-official": "on", **extra}
    return client.post(f"{URL}import/?year=2027", data, HTTP_ACCEPT_LANGUAGE="en")


def test_the_year_shows_holidays_调休_days_and_weekends(alice_client: Client) -> None:
    html = alice_client.get(f"{URL}?year=2026", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    national_day = day_button(html, "2026-10-01")
    assert "day-holiday" in national_day and "National Day" in national_day
    sunday_worked = day_button(html, "2026-09-20")  # 调休: a Sunday worked for National Day
    assert "day-shift" in sunday_worked and 'data-working="1"' in sunday_worked
    assert "day-weekend" in day_button(html, "2026-11-07")  # a plain Saturday
    assert 'data-working="1"' in day_button(html, "2026-11-09")
    assert html.count('name="date"') == 365
    assert 'id="year-source"' in html and "Official schedule built in" in html


def test_the_page_speaks_the_readers_language(alice_client: Client) -> None:
    html = alice_client.get(f"{URL}?year=2026", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "2026-10-01 · 休息日" in day_button(html, "2026-10-01")  # CalendarDay's "Day off"
    assert "十月" in html  # Django's own month names


def test_a_click_marks_a_working_day_off_and_a_second_click_unmarks_it(
    alice_client: Client, alice: Any
) -> None:
    answer = toggle(alice_client, "2027-03-03", name="公司年会")
    assert answer.status_code == 200
    cell = answer.content.decode()
    assert cell.startswith("<button") and 'aria-pressed="true"' in cell
    assert "day-holiday" in cell and "day-marked" in cell and "公司年会" in cell
    row = CalendarDay.objects.get(date=date(2027, 3, 3))
    assert (row.kind, row.name, row.created_by) == ("holiday", "公司年会", alice)
    assert not BusinessCalendar.load().is_working_day(date(2027, 3, 3))

    again = toggle(alice_client, "2027-03-03").content.decode()
    assert 'aria-pressed="false"' in again and "day-marked" not in again
    assert not CalendarDay.objects.exists()
    assert BusinessCalendar.load().is_working_day(date(2027, 3, 3))


def test_a_click_on_a_weekend_or_holiday_makes_it_a_working_day(alice_client: Client) -> None:
    toggle(alice_client, "2027-03-06")  # a Saturday
    toggle(alice_client, "2026-10-05")  # National Day 2026
    assert dict(CalendarDay.objects.values_list("date", "kind")) == {
        date(2027, 3, 6): "workday",
        date(2026, 10, 5): "workday",
    }
    calendar = BusinessCalendar.load()
    assert calendar.is_working_day(date(2027, 3, 6)) and calendar.is_working_day(date(2026, 10, 5))
    html = alice_client.get(f"{URL}?year=2027").content.decode()
    assert "day-shift day-marked" in day_button(html, "2027-03-06")


def test_without_htmx_a_click_posts_the_form_and_comes_back(alice_client: Client) -> None:
    response = alice_client.post(f"{URL}day/", {"date": "2027-03-03"})
    assert response.status_code == 302 and response["Location"] == f"{URL}?year=2027"
    assert CalendarDay.objects.filter(date=date(2027, 3, 3)).exists()


@pytest.mark.parametrize("value", ["", "2027-02-30", "tomorrow", "1850-01-01"])
def test_a_click_without_a_real_day_changes_nothing(alice_client: Client, value: str) -> None:
    assert toggle(alice_client, value).status_code == 400
    assert not CalendarDay.objects.exists()


def test_a_bad_year_is_not_found(alice_client: Client) -> None:
    assert alice_client.get(f"{URL}?year=abc").status_code == 404
    assert alice_client.get(f"{URL}?year=1850").status_code == 404


def test_an_official_schedule_is_imported(alice_client: Client, alice: Any) -> None:
    CalendarDay.objects.create(date=date(2027, 1, 1), kind="workday", name="值班")
    response = import_text(alice_client, SCHEDULE_2027)
    assert response.status_code == 302 and response["Location"] == f"{URL}?year=2027"
    days = dict(CalendarDay.objects.values_list("date", "kind"))
    assert len(days) == 10
    assert days[date(2027, 1, 1)] == "holiday"  # the file wins over an earlier mark
    assert all(days[date(2027, 2, d)] == "holiday" for d in range(6, 13))
    assert days[date(2027, 2, 14)] == days[date(2027, 2, 20)] == "workday"
    assert CalendarDay.objects.get(date=date(2027, 2, 14)).name == "春节调休"
    year = CalendarYear.objects.get()
    assert (year.year, year.source, year.days, year.recorded_by) == (2027, "import", 10, alice)
    page = alice_client.get(f"{URL}?year=2027", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Imported 10 days (9 new, 1 changed) for 2027." in page
    calendar = BusinessCalendar.load()
    assert not calendar.is_working_day(date(2027, 2, 8)) and calendar.is_holiday(date(2027, 2, 8))
    assert calendar.is_working_day(date(2027, 2, 14))  # a Sunday worked


def test_bad_lines_are_named_and_nothing_is_imported(alice_client: Client) -> None:
    text = (
        "2027-01-01,holiday,元旦\n"
        "2027-13-01,holiday,坏日期\n"
        "2027-02-14,班,春节调休\n"
        "2027-02-15,maybe\n"
        "2027-02-14,holiday,又一次\n"
        "no comma here\n"
    )
    response = import_text(alice_client, text)
    assert response.status_code == 200
    html = response.content.decode()
    errors = html.split('id="id_import-text_error">', 1)[1].split("</div></div>", 1)[0]
    assert "Line 2: “2027-13-01” is not a date written as 2027-01-01." in errors
    assert "Line 4: “maybe” is neither holiday nor workday." in errors
    assert "Line 5: 2027-02-14 is already marked differently on line 3." in errors
    assert "Line 6:" in errors
    assert "Line 1:" not in errors and "Line 3:" not in errors
    assert 'class="form-control is-invalid"' in html
    assert "2027-13-01,holiday" in html  # what was pasted is kept for correcting
    assert not CalendarDay.objects.exists() and not CalendarYear.objects.exists()


def test_a_range_must_go_forward_and_stay_short(alice_client: Client) -> None:
    html = import_text(
        alice_client, "2027-10-07..2027-10-01,holiday\n2027-01-01..2027-03-01,holiday"
    ).content.decode()
    assert "Line 1: a range goes forward" in html and "Line 2: a range goes forward" in html
    assert not CalendarDay.objects.exists()


def test_a_gbk_file_from_excel_is_imported(alice_client: Client) -> None:
    upload = SimpleUploadedFile(
        "2027.csv", "2027-10-01..2027-10-07,holiday,国庆节\r\n".encode("gbk"), "text/csv"
    )
    response = alice_client.post(
        f"{URL}import/?year=2027", {"import-file": upload, "import-official": "on"}
    )
    assert response.status_code == 302
    assert set(CalendarDay.objects.values_list("name", flat=True)) == {"国庆节"}
    assert CalendarDay.objects.count() == 7


def test_a_bad_file_is_refused_at_the_file_field(alice_client: Client) -> None:
    upload = SimpleUploadedFile("2027.csv", b"2027-01-01;holiday\n", "text/csv")
    html = alice_client.post(
        f"{URL}import/?year=2027", {"import-file": upload}, HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    errors = html.split('id="id_import-file_error">', 1)[1]
    assert errors.startswith("<div>Line 1: ")
    assert not CalendarDay.objects.exists()


def test_nothing_to_import_is_said_so(alice_client: Client) -> None:
    html = import_text(alice_client, "").content.decode()
    assert "Choose a file or paste the lines." in html.split('id="id_import-file_error">', 1)[1]
    html = import_text(alice_client, "# only a comment\n").content.decode()
    assert "The file has no days in it." in html


def test_a_partial_import_does_not_count_as_the_years_schedule(alice_client: Client) -> None:
    response = alice_client.post(f"{URL}import/", {"import-text": "2027-05-20,holiday,年会"})
    assert response.status_code == 302
    assert CalendarDay.objects.count() == 1 and not CalendarYear.objects.exists()


@time_machine.travel(datetime(2026, 11, 25, 2, 0, tzinfo=UTC), tick=False)
def test_a_warning_says_next_year_is_not_covered_until_its_schedule_is_in(
    alice_client: Client,
) -> None:
    for path in ("/settings/organisation/", URL):
        html = alice_client.get(path, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert 'calendar-warning" role="alert" data-year="2027"' in html
        assert "The holiday calendar does not know 2027 yet." in html
        assert 'calendar-warning" role="alert" data-year="2026"' not in html  # built in
    import_text(alice_client, SCHEDULE_2027)
    html = alice_client.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "does not know 2027" not in html


@time_machine.travel(datetime(2026, 11, 25, 2, 0, tzinfo=UTC), tick=False)
def test_a_year_entered_by_hand_can_be_confirmed(alice_client: Client, alice: Any) -> None:
    response = alice_client.post(f"{URL}confirm/", {"year": "2027"})
    assert response.status_code == 302
    assert CalendarYear.objects.get().source == "manual"
    html = alice_client.get("/settings/organisation/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "does not know 2027" not in html and "Entered by hand" in html


def test_the_command_imports_a_file_and_tells_what_it_did(tmp_path: Path) -> None:
    source = tmp_path / "2027.txt"
    source.write_text(SCHEDULE_2027, encoding="utf-8")
    out = StringIO()
    with translation.override("en"):
        call_command("calendar", "import", str(source), stdout=out)
    assert out.getvalue().strip() == "10 days for 2027: 10 new, 0 changed"
    assert CalendarYear.objects.filter(year=2027).exists()


def test_the_command_refuses_a_bad_file_whole(tmp_path: Path) -> None:
    source = tmp_path / "bad.txt"
    source.write_text("2027-01-01,holiday\n2027-01-02,nope\n", encoding="utf-8")
    with translation.override("en"), pytest.raises(CommandError, match="Line 2"):
        call_command("calendar", "import", str(source))
    assert not CalendarDay.objects.exists()
