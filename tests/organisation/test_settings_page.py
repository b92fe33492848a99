"""The Organisation settings page: an admin saves each default; bad input is refused field by
field, in the reader's language, and nothing is written; nobody else may even look."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from django.test import Client

from huifang.organisation import services
from huifang.organisation.models import OrganisationSettings

from .conftest import settings_form

pytestmark = pytest.mark.django_db

URL = "/settings/organisation/"


def post(client: Client, **overrides: Any) -> Any:
    return client.post(URL, settings_form(**overrides), HTTP_ACCEPT_LANGUAGE="en")


def test_without_a_row_the_page_shows_the_environments_defaults(
    alice_client: Client, settings: Any
) -> None:
    settings.HUIFANG_QUIET_HOURS = "22:00-07:30"
    page = alice_client.get(URL, HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="env-defaults"' in html
    assert 'name="quiet_start" value="22:00"' in html
    assert 'name="quiet_end" value="07:30"' in html
    assert "Asia/Shanghai" in html  # the time zone, read-only
    assert services.current().quiet_start == "22:00"
    assert not OrganisationSettings.objects.exists()


def test_an_admin_saves_quiet_hours(alice_client: Client, alice: Any) -> None:
    response = post(alice_client, quiet_start="22:30", quiet_end="07:00")
    assert response.status_code == 302
    row = OrganisationSettings.objects.get()
    assert (row.quiet_start, row.quiet_end, row.updated_by) == (time(22, 30), time(7, 0), alice)
    assert (services.current().quiet_start, services.current().quiet_end) == ("22:30", "07:00")
    page = alice_client.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Organisation settings saved." in page
    assert 'name="quiet_start" value="22:30"' in page


def test_an_admin_saves_working_days_and_hours(alice_client: Client) -> None:
    post(
        alice_client,
        working_days=["0", "1", "2", "3", "4", "5"],
        working_start="08:30",
        working_end="17:30",
    )
    assert services.current().working_hours == {
        "days": [0, 1, 2, 3, 4, 5],
        "start": "08:30",
        "end": "17:30",
    }
    page = alice_client.get(URL).content.decode()
    assert 'value="5" class="form-check-input" id="id_working_days_5" checked' in page


def test_an_admin_saves_default_caps_and_blank_rows_are_no_caps(alice_client: Client) -> None:
    post(
        alice_client,
        **{
            "caps-0-channel": "sms",
            "caps-0-max": "2",
            "caps-0-per_days": "7",
            "caps-1-channel": "any",
            "caps-1-max": "4",
            "caps-1-per_days": "30",
        },
    )
    assert services.current().caps == (("sms", 2, 7), ("any", 4, 30))
    page = alice_client.get(URL).content.decode()
    assert 'name="caps-TOTAL_FORMS" value="4"' in page  # the two kept, two blank rows
    post(alice_client)  # every row left blank: no caps any more
    assert services.current().caps == ()


def test_an_admin_saves_the_default_sms_signature(alice_client: Client) -> None:
    post(alice_client, sms_signature="【回访服务】")
    assert OrganisationSettings.objects.get().sms_signature == "回访服务"
    assert services.current().sms_signature == "回访服务"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"quiet_start": "25:00"}, "quiet_start", "Enter a valid time."),
        ({"working_days": []}, "working_days", "Tick at least one working day."),
        ({"working_days": ["7"]}, "working_days", "Select a valid choice."),
        ({"working_end": "08:00"}, "working_end", "The working day must end after it starts."),
        ({"sms_signature": "回"}, "sms_signature", "2 to 12 characters"),
        ({"sms_signature": "回访" * 7}, "sms_signature", "2 to 12 characters"),
        ({"caps-0-channel": "sms"}, "caps-0-max", "Fill in the channel, the number and the days"),
        (
            {"caps-0-channel": "fax", "caps-0-max": "1", "caps-0-per_days": "1"},
            "caps-0-channel",
            "Select a valid choice.",
        ),
        (
            {"caps-0-channel": "sms", "caps-0-max": "0", "caps-0-per_days": "7"},
            "caps-0-max",
            "greater than or equal to 1",
        ),
        (
            {"caps-0-channel": "sms", "caps-0-max": "1", "caps-0-per_days": "400"},
            "caps-0-per_days",
            "less than or equal to 365",
        ),
        (
            {
                "caps-0-channel": "sms",
                "caps-0-max": "1",
                "caps-0-per_days": "7",
                "caps-1-channel": "sms",
                "caps-1-max": "3",
                "caps-1-per_days": "7",
            },
            "caps-1-channel",
            "The same cap is given twice.",
        ),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_written(
    alice_client: Client, overrides: dict[str, Any], field: str, message: str
) -> None:
    # Every other field is good and changed: none of it may be stored either.
    good = {"quiet_start": "23:00", "sms_signature": "回访"}
    response = post(alice_client, **{**good, **overrides})
    assert response.status_code == 200
    html = response.content.decode()
    error = html.split(f'id="id_{field}_error">', 1)
    assert len(error) == 2, f"no error under {field}"
    assert message in error[1].split("</div></div>", 1)[0]
    assert not OrganisationSettings.objects.exists()
    assert services.current().quiet_start == "21:00"


def test_field_errors_are_in_the_readers_language(alice_client: Client) -> None:
    response = alice_client.post(
        URL, settings_form(quiet_start="25:00"), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    error = response.content.decode().split('id="id_quiet_start_error">', 1)[1]
    assert "输入一个有效的时间" in error.split("</div>", 1)[0]


def test_a_bad_value_is_marked_invalid_and_keeps_what_was_typed(alice_client: Client) -> None:
    html = post(alice_client, working_end="08:00", quiet_start="22:15").content.decode()
    assert 'name="working_end" value="08:00" class="form-control is-invalid"' in html
    assert 'name="quiet_start" value="22:15"' in html


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_only_admins_see_or_change_the_settings(request: pytest.FixtureRequest, who: str) -> None:
    user = request.getfixturevalue(who)
    client = Client()
    client.force_login(user)
    for path in (URL, f"{URL}calendar/"):
        assert client.get(path).status_code == 403
    assert client.post(URL, settings_form(quiet_start="23:00")).status_code == 403
    assert client.post(f"{URL}calendar/day/", {"date": "2027-03-03"}).status_code == 403
    assert (
        client.post(
            f"{URL}calendar/import/", {"import-text": "2027-01-01,holiday,元旦"}
        ).status_code
        == 403
    )
    assert client.post(f"{URL}calendar/confirm/", {"year": "2027"}).status_code == 403
    assert not OrganisationSettings.objects.exists()
    assert "/settings/organisation/" not in client.get("/customers/").content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_admins_find_the_page_in_the_navigation(alice_client: Client) -> None:
    html = alice_client.get("/customers/").content.decode()
    assert 'href="/settings/organisation/"' in html
    assert "bi-building-gear" in html


def test_the_settings_are_read_once_per_half_minute_not_per_message(
    alice_client: Client, django_assert_num_queries: Any
) -> None:
    post(alice_client, quiet_start="22:00")
    with django_assert_num_queries(1):
        for _ in range(1000):
            assert services.current().quiet_start == "22:00"
