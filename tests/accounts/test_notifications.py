"""In-app notifications: the bell in the top bar, the list, opening, marking read, the channel."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from playwright.sync_api import Page, expect

from huifang.accounts.models import Notification
from huifang.accounts.services import notify
from huifang.integrations.base import Outgoing, TransportError
from huifang.integrations.inapp.transport import KIND, InAppTransport
from tests.conftest import PASSWORD

OFF_SITE = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "/\t/evil.example/",
    "javascript:alert(1)",
    "customers/1/",
    " /customers/",
]


def unread_badge(client: Client, path: str = "/customers/") -> int:
    html = client.get(path).content.decode()
    found = re.search(r'id="notification-badge" data-unread="(\d+)"', html)
    return int(found.group(1)) if found else 0


def test_notify_puts_an_unread_notification_under_the_bell(bob: Any) -> None:
    notification = notify(
        user=bob, title="新任务：回访王小明", body="今天 17:00 前", url="/customers/1/"
    )
    notification.refresh_from_db()
    assert notification.recipient == bob
    assert (notification.title, notification.body, notification.url) == (
        "新任务：回访王小明",
        "今天 17:00 前",
        "/customers/1/",
    )
    assert notification.read_at is None and not notification.is_read
    assert list(Notification.objects.filter(recipient=bob).unread()) == [notification]


def test_the_bell_shows_how_many_are_unread(bob: Any, bob_client: Client) -> None:
    assert unread_badge(bob_client) == 0
    for title in ("一", "二", "三"):
        notify(user=bob, title=title)
    assert unread_badge(bob_client) == 3
    fragment = bob_client.get("/settings/notifications/count/", HTTP_HX_REQUEST="true")
    assert 'data-unread="3"' in fragment.content.decode()
    assert "<html" not in fragment.content.decode()


def test_the_bell_menu_lists_the_latest_few(bob: Any, bob_client: Client) -> None:
    for i in range(7):
        notify(user=bob, title=f"通知 {i}")
    menu = bob_client.get("/settings/notifications/menu/", HTTP_HX_REQUEST="true").content.decode()
    titles = re.findall(r"通知 (\d)", menu)
    assert titles == ["6", "5", "4", "3", "2"]
    assert "/settings/notifications/" in menu


def test_opening_a_notification_marks_it_read_and_follows_its_link(
    bob: Any, bob_client: Client
) -> None:
    notification = notify(user=bob, title="客户投诉升级", url="/customers/7/?tab=timeline")
    notify(user=bob, title="另一条")
    response: Any = bob_client.get(f"/settings/notifications/{notification.pk}/open/")
    assert response.status_code == 302 and response["Location"] == "/customers/7/?tab=timeline"
    notification.refresh_from_db()
    assert notification.is_read
    first_read = notification.read_at
    bob_client.get(f"/settings/notifications/{notification.pk}/open/")
    notification.refresh_from_db()
    assert notification.read_at == first_read
    assert unread_badge(bob_client) == 1


def test_opening_one_without_a_link_leads_to_the_list(bob: Any, bob_client: Client) -> None:
    notification = notify(user=bob, title="系统维护通知")
    response: Any = bob_client.get(f"/settings/notifications/{notification.pk}/open/")
    assert response.status_code == 302 and response["Location"] == "/settings/notifications/"


def test_nobody_else_can_open_or_see_a_notification(bob: Any, carol: Any) -> None:
    notification = notify(user=bob, title="只给 bob 的通知", url="/customers/1/")
    carol_client = Client()
    carol_client.force_login(carol)
    assert carol_client.get(f"/settings/notifications/{notification.pk}/open/").status_code == 404
    assert "只给 bob 的通知" not in carol_client.get("/settings/notifications/").content.decode()
    menu = carol_client.get("/settings/notifications/menu/").content.decode()
    assert "只给 bob 的通知" not in menu
    assert unread_badge(carol_client) == 0
    carol_client.post("/settings/notifications/read-all/")
    notification.refresh_from_db()
    assert not notification.is_read


def test_mark_all_read_clears_the_bell(bob: Any, carol: Any, bob_client: Client) -> None:
    for title in ("一", "二"):
        notify(user=bob, title=title)
    carols = notify(user=carol, title="carol 的")
    assert bob_client.get("/settings/notifications/read-all/").status_code == 405
    response: Any = bob_client.post(
        "/settings/notifications/read-all/", follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "2 notifications marked as read." in response.content.decode()
    assert not Notification.objects.filter(recipient=bob).unread().exists()
    assert unread_badge(bob_client) == 0
    carols.refresh_from_db()
    assert not carols.is_read


def test_mark_all_read_needs_the_csrf_token(bob: Any) -> None:
    notify(user=bob, title="一")
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    assert client.post("/settings/notifications/read-all/").status_code == 403
    assert Notification.objects.filter(recipient=bob).unread().count() == 1


@pytest.mark.parametrize("url", OFF_SITE)
def test_a_link_off_the_site_is_refused(bob: Any, url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        notify(user=bob, title="钓鱼", url=url)
    assert "url" in refused.value.message_dict
    assert not Notification.objects.exists()


def test_opening_never_leaves_the_site_even_for_a_row_written_around_notify(
    bob: Any, bob_client: Client
) -> None:
    sneaked = Notification.objects.create(recipient=bob, title="x", url="//evil.example/")
    response: Any = bob_client.get(f"/settings/notifications/{sneaked.pk}/open/")
    assert response["Location"] == "/settings/notifications/"


def test_the_list_is_newest_first_paged_escaped_and_marks_the_unread(
    bob: Any, bob_client: Client
) -> None:
    made = [notify(user=bob, title=f"通知 {i:02}") for i in range(23)]
    made[22].mark_read()
    notify(user=bob, title="<script>alert(1)</script>", body="<img src=x onerror=alert(2)>\n第二行")
    first = bob_client.get("/settings/notifications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<script>alert(1)</script>" not in first and "<img src=x" not in first
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in first and "<br>第二行" in first
    assert re.findall(r"通知 (\d\d)", first) == [f"{i:02}" for i in range(22, 3, -1)]
    assert first.count("notification-item unread") == 19  # all but 通知 22
    assert "23 unread notifications" in first
    after = re.search(r'href="\?after=([^"]+)"', first)
    assert after
    second = bob_client.get(f"/settings/notifications/?after={after.group(1)}").content.decode()
    assert re.findall(r"通知 (\d\d)", second) == ["03", "02", "01", "00"]


def test_every_page_needs_a_login(bob: Any) -> None:
    notification = notify(user=bob, title="一")
    anonymous = Client()
    for path in (
        "/settings/notifications/",
        f"/settings/notifications/{notification.pk}/open/",
        "/settings/notifications/count/",
        "/settings/notifications/menu/",
    ):
        response: Any = anonymous.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert anonymous.post("/settings/notifications/read-all/").status_code == 302
    notification.refresh_from_db()
    assert not notification.is_read


def test_a_poll_after_the_session_ended_reloads_the_page_instead_of_showing_the_login_form(
    db: None,
) -> None:
    response: Any = Client().get("/settings/notifications/count/", HTTP_HX_REQUEST="true")
    assert response.status_code == 403 and response["HX-Refresh"] == "true"
    assert response.content == b""


def outgoing(to: str, **extra: Any) -> Outgoing:
    return Outgoing(message_id=9, channel="staff", to=to, body="请今天回访", **extra)


def test_the_inapp_channel_delivers_to_a_member_of_staff(bob: Any) -> None:
    transport = KIND.build(KIND.config())
    receipt = transport.send(
        outgoing(str(bob.pk), subject="回访任务已分配", params={"url": "/customers/3/"})
    )
    notification = Notification.objects.get(recipient=bob)
    assert receipt.provider_ref == f"inapp-{notification.pk}"
    assert (notification.title, notification.body, notification.url) == (
        "回访任务已分配",
        "请今天回访",
        "/customers/3/",
    )


def test_the_inapp_channel_titles_a_message_without_a_subject_by_its_first_line(
    bob: Any,
) -> None:
    InAppTransport().send(
        Outgoing(message_id=1, channel="staff", to=str(bob.pk), body="第一行" * 100 + "\n第二行")
    )
    notification = Notification.objects.get(recipient=bob)
    assert notification.title.startswith("第一行") and len(notification.title) == 200
    assert "第二行" not in notification.title


@pytest.mark.parametrize("to", ["999999", "9" * 30, "bob", "-1", ""])
def test_the_inapp_channel_refuses_an_unknown_user_for_good(db: None, to: str) -> None:
    with pytest.raises(TransportError) as refused:
        InAppTransport().send(outgoing(to, subject="x"))
    assert refused.value.permanent and refused.value.code == "no_user"
    assert not Notification.objects.exists()


def test_the_inapp_channel_refuses_an_inactive_user_and_an_off_site_link(bob: Any) -> None:
    with pytest.raises(TransportError) as off_site:
        InAppTransport().send(outgoing(str(bob.pk), subject="x", params={"url": "//evil.example"}))
    assert off_site.value.permanent
    bob.is_active = False
    bob.save()
    with pytest.raises(TransportError) as inactive:
        InAppTransport().send(outgoing(str(bob.pk), subject="x"))
    assert inactive.value.permanent and inactive.value.code == "inactive"
    assert not Notification.objects.exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_a_browser_the_badge_goes_down_on_opening_and_up_when_one_arrives(
    live_server: Any, page: Page, bob: Any
) -> None:
    notify(user=bob, title="新任务：回访王小明", url="/customers/")
    notify(user=bob, title="客户投诉升级")
    page.clock.install()  # so the 30-second poll can be run without waiting for it
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
    badge = page.locator("#notification-badge")
    expect(badge).to_have_attribute("data-unread", "2")
    expect(badge.locator("[aria-hidden=true]")).to_have_text("2")
    page.click("#notification-bell button")
    item = page.locator("#notification-menu a", has_text="新任务：回访王小明")
    expect(item).to_be_visible()
    item.click()
    page.wait_for_url(f"{live_server.url}/customers/")
    expect(page.locator("#notification-badge")).to_have_attribute("data-unread", "1")
    notify(user=bob, title="又一条")
    page.clock.run_for(31_000)
    expect(page.locator("#notification-badge")).to_have_attribute("data-unread", "2")
