"""Every error page (403, 404, 500, a form refused by the CSRF check) is the site's page in the
reader's language, sized for a phone, with a way on — not Django's bare English text."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import include, path

from huifang.accounts.roles import Role
from tests.conftest import make_staff

VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


# A URL configuration with one view that fails, for the 500 page (its handlers are ours).
urlpatterns = [path("boom/", boom), path("", include("huifang.server.urls"))]
handler403 = "huifang.server.errors.forbidden"
handler404 = "huifang.server.errors.not_found"
handler500 = "huifang.server.errors.server_error"


@pytest.fixture
def analyst_client(db: None) -> Client:
    client = Client()
    client.force_login(make_staff("erin", Role.ANALYST))
    return client


def in_english(client: Client) -> Client:
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    return client


def test_an_analyst_refused_a_page_reads_why_in_chinese_then_english(
    analyst_client: Client,
) -> None:
    answer = analyst_client.get("/rules/new/")
    assert answer.status_code == 403
    html = answer.content.decode()
    assert VIEWPORT in html and 'id="error-page"' in html and "navbar" in html
    assert "无法打开此页面" in html and "请管理员" in html
    assert "Forbidden" not in html
    html = in_english(analyst_client).get("/rules/new/").content.decode()
    assert "You cannot open this page" in html and 'lang="en"' in html


def test_a_missing_page_in_the_layout_for_visitors_and_staff(
    analyst_client: Client, client: Client
) -> None:
    for who in (analyst_client, client):
        answer = who.get("/customers/no-such-page/")
        assert answer.status_code == 404
        html = answer.content.decode()
        assert VIEWPORT in html and "页面不存在" in html and 'id="error-home"' in html
        assert "Not Found" not in html
    assert "登录" in client.get("/customers/no-such-page/").content.decode()  # a way in


def test_a_refused_form_says_nothing_was_saved_and_leads_back(analyst_client: Client) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(get_user_model().objects.get(username="erin"))
    answer = strict.post(
        "/i18n/setlang/", {"language": "en"}, HTTP_REFERER="http://testserver/customers/"
    )
    assert answer.status_code == 403
    html = answer.content.decode()
    assert "表单已过期" in html and "没有保存任何内容" in html
    assert 'href="http://testserver/customers/"' in html  # back to the form's page
    # A referrer elsewhere is not offered as the way back.
    elsewhere = strict.post(
        "/i18n/setlang/", {"language": "en"}, HTTP_REFERER="https://evil.example/x"
    )
    assert "evil.example" not in elsewhere.content.decode()


@override_settings(ROOT_URLCONF=__name__)
def test_a_failure_shows_a_styled_page_in_the_readers_language(analyst_client: Any) -> None:
    analyst_client.raise_request_exception = False
    answer = analyst_client.get("/boom/")
    assert answer.status_code == 500
    html = answer.content.decode()
    assert VIEWPORT in html and "bootstrap.min.css" in html and "出错了" in html
    assert "Server Error" not in html
    html = in_english(analyst_client).get("/boom/").content.decode()
    assert "Something went wrong" in html
