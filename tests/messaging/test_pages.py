"""The templates page and the message log, as staff use them: writing and restoring templates
with a live preview, and reading what became of each message — made by the real engine, the
real dispatcher and a real local provider."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from huifang.accounts.models import StaffProfile
from huifang.customers.models import Customer, Event
from huifang.engine.runner import run_until_idle
from huifang.messaging import pages, sms
from huifang.messaging.dispatch import Dispatcher
from huifang.messaging.models import Click, Message, MessageTemplate, TemplateVersion
from huifang.messaging.services import save_template
from huifang.rules.models import Rule
from tests.browser.test_customers_in_browser import log_in
from tests.engine.world import World, local
from tests.messaging.test_dispatch import Gateway, gateway, webhook  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

OPEN_ALL_DAY = {"quiet_hours": {"start": "00:00", "end": "00:00"}}
SMS_BODY = "{{客户姓名}}您好，{{产品名称}}用得还好吗？"
# Extra WSGI environ for the test client's **extra (its keyword arguments are typed Any).
EN: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": "en"}


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def html(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.content.decode())


def template_form(**fields: str) -> dict[str, str]:
    return {"key": "purchase-3d", "channel": "sms", "name": "购后回访", "body": SMS_BODY} | fields


# ------------------------------------------------------------------------------ templates


def test_an_admin_writes_a_template_and_only_changed_content_makes_a_version(
    alice_client: Client, alice: Any
) -> None:
    created = alice_client.post("/templates/new/", template_form(sms_signature="回访"))
    template = MessageTemplate.objects.get(key="purchase-3d", channel="sms")
    assert created.status_code == 302 and created["Location"] == f"/templates/{template.pk}/"
    first = template.current_version
    assert first is not None and (first.number, first.created_by) == (1, alice)
    assert first.sms_signature == "回访"

    same = alice_client.post(f"/templates/{template.pk}/", template_form(sms_signature="回访"))
    assert same.status_code == 302
    assert template.versions.count() == 1
    edited = alice_client.post(
        f"/templates/{template.pk}/",
        template_form(body=SMS_BODY + "回TD退订", sms_signature="回访"),
    )
    assert edited.status_code == 302
    template.refresh_from_db()
    assert template.current_version is not None and template.current_version.number == 2
    page = html(alice_client.get(f"/templates/{template.pk}/", **EN))
    assert 'id="v2"' in page and 'id="v1"' in page and "Alice" in page
    listing = html(alice_client.get("/templates/", **EN))
    assert "purchase-3d" in listing and "v2" in listing


def test_key_and_channel_stay_what_rules_refer_to(alice_client: Client) -> None:
    saved = save_template("purchase-3d", "sms", name="购后回访", body=SMS_BODY)
    alice_client.post(
        f"/templates/{saved.template.pk}/",
        template_form(key="other", channel="email", body=SMS_BODY + "。"),
    )
    assert set(MessageTemplate.objects.values_list("key", "channel")) == {("purchase-3d", "sms")}
    again = html(alice_client.post("/templates/new/", template_form(), **EN))
    assert "already exists" in again


@pytest.mark.parametrize(
    ("body", "language", "says"),
    [
        ("{{客户生日}}您好", "zh-hans", "未知变量“客户生日”"),
        ("{{客户生日}}您好", "en", "unknown variable “客户生日”"),
        ("{{ ''.__class__ }}", "en", "__class__"),
        ("{% for x in y %}{% endfor %}", "en", "not allowed"),
    ],
)
def test_a_template_that_cannot_be_saved_is_refused_on_its_field(
    alice_client: Client, body: str, language: str, says: str
) -> None:
    page = html(
        alice_client.post(
            "/templates/new/", template_form(body=body), HTTP_ACCEPT_LANGUAGE=language
        )
    )
    error = re.search(r'id="error-body">([^<]*)<', page)
    assert error is not None and says in error.group(1).replace("&quot;", '"')
    assert not MessageTemplate.objects.exists() and not TemplateVersion.objects.exists()


def test_the_preview_renders_for_the_chosen_customer_with_the_sms_count(
    alice_client: Client,
) -> None:
    wang = Customer.objects.create(name="王芳", phone="+8613800138000")
    Customer.objects.create(name="李雷", phone="+8613900139000")  # the newest: offered first
    Event.objects.create(
        customer=wang,
        type="purchase",
        occurred_at=local("2026-11-02 10:00"),
        properties={"product": "台灯"},
    )
    form = template_form(sms_signature="回访", preview_customer=str(wang.pk))
    page = html(alice_client.post("/templates/preview/", form, **EN))
    expected = sms.count("【回访】王芳您好，台灯用得还好吗？")
    assert "【回访】王芳您好，台灯用得还好吗？" in page
    assert f"{expected.characters} characters, 1 segment" in page
    long = form | {"body": SMS_BODY + "好" * 60}
    assert "2 segments" in html(alice_client.post("/templates/preview/", long, **EN))
    broken = form | {"body": "{{客户生日}}"}
    assert "客户生日" in html(alice_client.post("/templates/preview/", broken, **EN))


def test_the_preview_customer_search_masks_phones(bob_client: Client) -> None:
    Customer.objects.create(name="王芳", phone="+8613800138000")
    Customer.objects.create(name="李雷", phone="+8613900139000")
    found = html(bob_client.get("/templates/preview/customers/", {"customer_q": "王"}))
    assert "王芳" in found and "138****8000" in found
    assert "李雷" not in found and "13800138000" not in found


def test_restoring_a_version_saves_it_again_as_the_newest(alice_client: Client) -> None:
    first = save_template("purchase-3d", "sms", name="购后回访", body=SMS_BODY).version
    save_template("purchase-3d", "sms", name="购后回访", body="改过的正文")
    template = first.template
    answer = alice_client.post(f"/templates/{template.pk}/versions/1/restore/")
    assert answer.status_code == 302
    template.refresh_from_db()
    current = template.current_version
    assert current is not None and (current.number, current.body) == (3, SMS_BODY)
    assert "1" in current.comment
    alice_client.post(f"/templates/{template.pk}/versions/3/restore/")  # already current
    assert template.versions.count() == 3


def test_a_version_that_no_longer_passes_the_checks_is_not_restored(
    alice_client: Client,
) -> None:
    saved = save_template("purchase-3d", "sms", name="购后回访", body=SMS_BODY)
    save_template("purchase-3d", "sms", name="购后回访", body="改过的正文")
    # Written before the follow-up link needed a target (straight to the table, as then).
    TemplateVersion.objects.filter(pk=saved.version.pk).update(body="请点 {{回访链接}}")
    answer = alice_client.post(
        f"/templates/{saved.template.pk}/versions/1/restore/", follow=True, **EN
    )
    assert "cannot be restored" in html(answer) and "follow-up link" in html(answer)
    assert saved.template.versions.count() == 2


def test_a_supervisor_edits_and_an_agent_only_reads(
    carol: Any, bob_client: Client, customer: Customer
) -> None:
    saved = save_template("purchase-3d", "sms", name="购后回访", body=SMS_BODY)
    template = saved.template
    edited = client_for(carol).post(
        f"/templates/{template.pk}/", template_form(body="主管改的正文")
    )
    assert edited.status_code == 302 and template.versions.count() == 2

    page = html(bob_client.get(f"/templates/{template.pk}/", **EN))
    assert "主管改的正文" in page and "Restore this version" not in page
    assert 'id="save-template"' not in page
    assert "New template" not in html(bob_client.get("/templates/", **EN))
    assert bob_client.get("/templates/new/").status_code == 403
    assert bob_client.post("/templates/new/", template_form(key="x")).status_code == 403
    assert bob_client.post(f"/templates/{template.pk}/", template_form()).status_code == 403
    assert bob_client.post(f"/templates/{template.pk}/versions/1/restore/").status_code == 403
    assert template.versions.count() == 2
    # Reading includes previewing the current version for a customer.
    shown = bob_client.post(
        "/templates/preview/",
        {"version": str(template.versions.get(number=2).pk), "preview_customer": customer.pk},
    )
    assert "主管改的正文" in html(shown)


# ------------------------------------------------------------------------------ message log


def rules(world: World) -> tuple[Rule, Rule]:
    save_template("purchase-3d", "sms", name="购后回访", body=SMS_BODY)
    save_template("care", "email", name="到店关怀", subject="{{客户姓名}}，您好", body="谢谢光临")
    sms_rule = world.rule(
        {
            "key": "after-purchase",
            "name": "购后回访",
            "trigger": {"kind": "event", "event": "purchase"},
            "policy": OPEN_ALL_DAY,
            "steps": [{"id": "ask", "send": {"channel": "sms", "template": "purchase-3d"}}],
        }
    )
    mail_rule = world.rule(
        {
            "key": "visit-care",
            "name": "到店关怀",
            "trigger": {"kind": "event", "event": "visit"},
            "policy": OPEN_ALL_DAY,
            "steps": [{"id": "mail", "send": {"channel": "email", "template": "care"}}],
        }
    )
    return sms_rule, mail_rule


def message_of(world: World, name: str, event: str, **customer: Any) -> Message:
    person = world.customer(name, **customer)
    properties: dict[str, Any] = {"product": "台灯", "amount": 199} if event == "purchase" else {}
    world.event(person, event, **properties)
    world.run()
    return Message.objects.get(customer=person)


def shown_ids(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'id="message-(\d+)"', page)]


def test_the_log_filters_by_status_channel_rule_customer_and_the_viewer_s_days(
    bob: Any, bob_client: Client, carol: Any
) -> None:
    world = World(local("2026-11-02 10:00"))
    _sms_rule, mail_rule = rules(world)
    wang = message_of(world, "王芳", "purchase")
    li = message_of(world, "李雷", "visit")
    zhao = message_of(world, "赵敏", "purchase", consent=())
    world.clock.set(local("2026-11-03 07:00"))  # 11-02 18:00 in New York
    chen = message_of(world, "陈晨", "purchase")
    assert [m.status for m in (wang, li, zhao, chen)] == ["sent", "sent", "dropped", "sent"]

    def ids(client: Client = bob_client, /, **query: Any) -> set[int]:
        return set(shown_ids(html(client.get("/messages/", query))))

    assert ids() == {wang.pk, li.pk, zhao.pk, chen.pk}
    assert ids(status="dropped") == {zhao.pk}
    assert ids(channel="email") == {li.pk}
    assert ids(rule=mail_rule.pk) == {li.pk}
    assert ids(q="王芳") == {wang.pk}
    assert ids(customer=wang.customer_id) == {wang.pk}
    assert ids(status="sent", channel="sms") == {wang.pk, chen.pk}
    assert ids(**{"from": "2026-11-03"}) == {chen.pk}
    assert ids(**{"from": "2026-11-02", "to": "2026-11-02"}) == {wang.pk, li.pk, zhao.pk}
    StaffProfile.objects.filter(user=bob).update(time_zone="America/New_York")
    new_york = {"from": "2026-11-02", "to": "2026-11-02"}
    assert ids(**new_york) == {chen.pk}
    assert ids(client_for(carol), **new_york) == {wang.pk, li.pk, zhao.pk}  # Shanghai
    # The dropped one says why; the newest comes first.
    page = html(bob_client.get("/messages/", **EN))
    assert "No consent for this channel" in page
    assert page.index(f'id="message-{chen.pk}"') < page.index(f'id="message-{wang.pk}"')
    assert "18:00" in page  # chen's 07:00 in Shanghai, on bob's New York clock


def test_the_log_pages_newest_first(bob_client: Client, monkeypatch: Any) -> None:
    world = World(local("2026-11-02 10:00"))
    rules(world)
    made = [message_of(world, f"客户{i}", "purchase").pk for i in range(3)]
    monkeypatch.setattr(pages, "LOG_PAGE_SIZE", 2)
    first = html(bob_client.get("/messages/"))
    more = re.search(r'href="\?(after=[^"]+)"', first)
    assert more is not None
    second = html(bob_client.get("/messages/?" + more.group(1).replace("&amp;", "&")))
    assert shown_ids(first) + shown_ids(second) == made[::-1]


def test_an_uncertain_message_says_what_to_do(bob_client: Client, gateway: str) -> None:  # noqa: F811
    webhook(gateway)
    world = World(local("2026-11-02 10:00"))
    rules(world)
    person = world.customer("王芳")
    world.event(person, "purchase", product="台灯", amount=199)
    run_until_idle(world.clock)
    crashed = Dispatcher(world.clock, lease=timedelta(seconds=60))
    _claimed, jobs = crashed.claim("worker-that-dies")
    crashed.send(jobs)  # the provider has it; the worker dies before recording the answer
    world.clock.advance(timedelta(seconds=61))
    Dispatcher(world.clock).run_until_idle()
    message = Message.objects.get(customer=person)
    assert message.status == "uncertain"
    explanation = "check with the provider before sending again"
    assert explanation in html(bob_client.get("/messages/", {"status": "uncertain"}, **EN))
    assert explanation in html(bob_client.get(f"/messages/{message.pk}/", **EN))


def test_the_detail_shows_text_decisions_attempts_answers_and_clicks(
    bob_client: Client,
    gateway: str,  # noqa: F811
    settings: Any,
) -> None:
    settings.HUIFANG_BASE_URL = "http://testserver"
    webhook(gateway)
    world = World(local("2026-11-02 10:00"))
    rules(world)
    save_template(
        "purchase-3d",
        "sms",
        name="购后回访",
        body="{{客户姓名}}您好\n评价请点 {{回访链接}}",
        followup_url="https://shop.example.cn/review",
    )
    person = world.customer("王芳")
    Gateway.answers = [(503, {"error": "busy", "to": person.phone}), (200, {"id": "gw-42"})]
    world.event(person, "purchase", product="台灯", amount=199)
    world.run()
    world.clock.advance(timedelta(seconds=30))
    world.run()
    message = Message.objects.get(customer=person)
    assert (message.status, message.attempts) == ("sent", 2)
    token = re.search(r"http://testserver/l/(\S+)", message.body)
    assert token is not None
    assert Client(HTTP_USER_AGENT="Mozilla/5.0").get(f"/l/{token.group(1)}").status_code == 302

    page = html(bob_client.get(f"/messages/{message.pk}/", **EN))
    assert f'id="message-body">王芳您好\n评价请点 {token.group(0)}' in page
    assert "gw-42" in page and f"/templates/{message.template_version.template_id}/#v2" in page
    decisions = re.findall(r'class="list-group-item decision-(\w+)"', page)
    assert decisions == ["send"]
    assert "Failed, will retry" in page and "Accepted" in page
    answer = re.search(r'<pre class="provider-answer[^>]*>([^<]*)</pre>', page)
    assert answer is not None and "busy" in answer.group(1)
    assert person.phone_masked in answer.group(1)
    assert person.phone not in page and person.phone.lstrip("+") not in page
    assert "https://shop.example.cn/review" in page.split('id="clicks"')[1]
    assert Click.objects.get().message_id == message.pk


def test_user_text_is_escaped_everywhere(alice_client: Client) -> None:
    world = World(local("2026-11-02 10:00"))
    rules(world)
    save_template("purchase-3d", "sms", name="<b>购后</b>", body="{{客户姓名}}<img src=x>")
    message = message_of(world, "<script>alert(1)</script>", "purchase")
    assert message.body == "<script>alert(1)</script><img src=x>"
    pages = [
        html(alice_client.get("/messages/")),
        html(alice_client.get(f"/messages/{message.pk}/")),
        html(alice_client.get("/templates/")),
        html(alice_client.get(f"/templates/{message.template_version.template_id}/")),
        html(alice_client.get("/templates/preview/customers/", {"customer_q": "<script>"})),
        html(
            alice_client.post(
                "/templates/preview/",
                template_form(body="{{客户姓名}}", preview_customer=str(message.customer_id)),
            )
        ),
    ]
    for page in pages:
        assert "<script>alert(1)</script>" not in page and "<img src=x>" not in page
        assert "<b>购后</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0] + pages[1]


def test_the_customer_timeline_shows_the_message_and_the_click(
    bob_client: Client, settings: Any
) -> None:
    settings.HUIFANG_BASE_URL = "http://testserver"
    world = World(local("2026-11-02 10:00"))
    rules(world)
    save_template(
        "purchase-3d",
        "sms",
        name="购后回访",
        body="评价请点 {{回访链接}}",
        followup_url="https://shop.example.cn/review",
    )
    message = message_of(world, "王芳", "purchase")
    token = re.search(r"http://testserver/l/(\S+)", message.body)
    assert token is not None
    Client(HTTP_USER_AGENT="Mozilla/5.0").get(f"/l/{token.group(1)}")
    page = html(bob_client.get(f"/customers/{message.customer_id}/", **EN))
    follow_ups = page.split('id="follow-ups"')[1].split('id="timeline"')[0]
    assert "status-sent" in follow_ups and "购后回访" in follow_ups
    assert "template version" in follow_ups and "purchase-3d" not in follow_ups
    assert f'href="/messages/{message.pk}/"' in follow_ups
    timeline = page.split('id="timeline"')[1]
    assert "Link clicked" in timeline and f'href="/messages/{message.pk}/"' in timeline


def test_the_navigation_leads_to_both_pages(bob_client: Client) -> None:
    page = html(bob_client.get("/customers/"))
    assert 'href="/messages/"' in page and 'href="/templates/"' in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_writing_an_sms_template_the_preview_and_count_follow_the_typing(
    live_server: Any, page: Page, alice: Any
) -> None:
    Customer.objects.create(name="王芳", phone="+8613800138000")
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/templates/new/")
    page.fill("#id_key", "purchase-3d")
    page.fill("#id_name", "购后回访")
    page.select_option("#id_channel", "sms")
    page.fill("#id_sms_signature", "回访")
    body = page.locator("#id_body")
    body.click()
    page.locator("#variables button[data-insert='{{客户姓名}}']").click()
    body.press_sequentially("您好")
    expect(page.locator("#preview-body")).to_have_text("【回访】王芳您好")

    def counted(text: str) -> re.Pattern[str]:
        found = sms.count(text)  # characters first, then segments, in either language
        return re.compile(rf"(^|\D){found.characters}\D+{found.segments}(\D|$)")

    expect(page.locator("#sms-count")).to_contain_text(counted("【回访】王芳您好"))
    body.press_sequentially("，" + "好" * 62)
    expect(page.locator("#sms-count")).to_contain_text(counted("【回访】王芳您好，" + "好" * 62))
    page.click("#save-template")
    expect(page.locator("#v1")).to_be_visible()
    version = MessageTemplate.objects.get(key="purchase-3d").current_version
    assert version is not None and version.body == "{{客户姓名}}您好，" + "好" * 62


def test_a_template_declares_the_score_its_replies_are_read_as(alice_client: Client) -> None:
    alice_client.post("/templates/new/", template_form())
    template = MessageTemplate.objects.get(key="purchase-3d", channel="sms")
    form = html(alice_client.get(f"/templates/{template.pk}/", **EN))
    assert 'name="asks"' in form and "Replies to this message are read as a score" in form
    assert 'id="asks-badge"' not in form
    saved = alice_client.post(f"/templates/{template.pk}/", template_form(asks="csat"))
    assert saved.status_code == 302
    template.refresh_from_db()
    assert template.current_version is not None
    assert (template.current_version.number, template.current_version.asks) == (2, "csat")
    page = html(alice_client.get(f"/templates/{template.pk}/"))
    assert 'id="asks-badge"' in page and "满意度，1–5（CSAT）" in page
    assert 'data-asks="csat"' in page
    refused = html(alice_client.post(f"/templates/{template.pk}/", template_form(asks="stars")))
    assert 'id="error-asks"' in refused
    assert template.versions.count() == 2
