"""The injection corpus (issue 17): hostile text through every input path — each API operation
of the OpenAPI schema and the main HTML forms — with no 500 anywhere, every XSS payload
escaped, and nothing half-written (a refused submission leaves the database as it was).

The corpus: XSS, template syntax, spreadsheet formulas, oversized text, NUL, deep nesting,
bad time zones, bad dates and numbers no column holds. Each form is submitted once per
corpus entry with the entry in every field, and once per field with the sharpest entries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from huifang.accounts.models import ApiToken, Team
from huifang.customers.models import Consent, ContactPoint, Customer, Event, Tag
from huifang.imports.models import Import
from huifang.messaging.models import MessageTemplate, TemplateVersion
from huifang.messaging.services import save_template
from huifang.organisation.models import CalendarDay, OrganisationSettings
from huifang.rules.document import parse_rule
from huifang.rules.models import Rule, RuleVersion
from huifang.rules.services import save_rule
from huifang.server.api import api as ninja_api
from huifang.tasks.models import Task, TaskEvent
from tests.tasks.helpers import a_customer, local, open_one

pytestmark = pytest.mark.django_db

XSS = '"><script>alert(1)</script><img src=x onerror=alert(1)>'
CORPUS: dict[str, str] = {
    "xss": XSS,
    "template": "{{ 7*7 }}{% for i in range(10**9) %}x{% endfor %}{{ ''.__class__.__mro__ }}",
    "formula": "=cmd|' /C calc'!A0",
    "formula_at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "oversized": "长" * 100_000,
    "nul": "a\x00b",
    "nesting": "{{" * 500 + "[" * 500 + "(" * 500,
    "bad_zone": "Mars/Olympus_Mons",
    "zone_path": "../../etc/passwd",
    "bad_date": "9999-12-31",
    "year_one": "0001-01-01",
    "impossible_date": "2026-02-30",
    "huge_int": "9" * 30,
    "many_digits": "9" * 5000,
    "unicode_digits": "²١",
    "negative": "-1",
    "sql": "' OR 1=1 --",
    "rtl": "\u202egnp.exe",
}
# Each form is also sent with one of these in one field at a time.
SHARP = ("oversized", "bad_date", "huge_int", "many_digits", "template")
SKIP_FIELDS = {"csrfmiddlewaretoken", "language", "next", "action"}


# --- what the pages ask for --------------------------------------------------------------------


@dataclass
class Form:
    pairs: list[tuple[str, str]] = field(default_factory=list)
    typed: set[str] = field(default_factory=set)  # the fields people type into


class Fields(HTMLParser):
    """Every submittable field of a page, and which of them people type into."""

    TYPED = {
        "text",
        "number",
        "date",
        "time",
        "datetime-local",
        "email",
        "tel",
        "url",
        "search",
        "",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.form = Form()
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        name, kind = a.get("name"), a.get("type", "")
        if tag == "input" and name and kind not in ("submit", "button", "file"):
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.form.pairs.append((name, a.get("value", "on")))
            else:
                self.form.pairs.append((name, a.get("value", "")))
                if kind in self.TYPED:
                    self.form.typed.add(name)
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""
            self.form.typed.add(name)

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            chosen = [v for v, on in self._options if on] or [v for v, _on in self._options[:1]]
            self.form.pairs += [(self._select, v) for v in chosen]
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.form.pairs.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None


def fields_of(client: Client, url: str) -> Form:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    parser = Fields()
    parser.feed(page.content.decode())
    parser.form.pairs = [(k, v) for k, v in parser.form.pairs if k not in SKIP_FIELDS]
    parser.form.typed -= SKIP_FIELDS
    return parser.form


def snapshot(models: tuple[type[Model], ...]) -> list[Any]:
    """What a refused submission must leave as it was: every row of ``models``."""
    return [sorted(map(str, m._default_manager.values_list())) for m in models]


def check_answer(response: Any, label: str) -> None:
    assert response.status_code < 500, (label, response.status_code)
    if "html" in response.get("Content-Type", ""):
        assert XSS not in response.content.decode(), f"{label}: an XSS payload was not escaped"


def saved(response: Any) -> bool:
    """A form that was accepted answers with a redirect (or the builder's HX-Redirect)."""
    return response.status_code in (301, 302, 303) or "HX-Redirect" in response


# --- the forms ---------------------------------------------------------------------------------


@dataclass
class Target:
    """A form: the page that shows it, where it posts, and what a refusal must leave alone."""

    page: str
    post: str
    watched: tuple[type[Model], ...]
    extra: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    accepted: Callable[[Any], bool] = field(default=lambda response: saved(response))


def targets(alice: Any) -> Iterator[tuple[str, Target]]:
    customer = a_customer("王小明", time_zone="Asia/Shanghai")
    task = open_one(customer, None, now=local("2026-11-02 10:00"), assignee=alice)
    template = save_template("thanks", "sms", name="致谢", body="{{客户姓名}}您好").template
    Rule.objects.create(
        key="corpus",
        name="语料",
        draft={
            "key": "corpus",
            "name": "语料",
            "trigger": {
                "kind": "segment",
                "where": {"field": "attributes.plan", "op": "eq", "value": "企业版"},
            },
            "audience": {"all": [{"field": "spend_12m", "op": "gt", "value": 100}]},
            "steps": [
                {"id": "ask", "send": {"channel": "sms", "template": "thanks"}},
                {"id": "call", "task": {"title": "回访", "script": "您好，{{客户姓名}}"}},
            ],
        },
    )
    yield "rule_new", Target(reverse("rules:new"), reverse("rules:new"), (Rule,))
    edit = reverse("rules:edit", kwargs={"key": "corpus"})
    yield (
        "builder",
        Target(edit, edit, (RuleVersion,), {"action": "save"}, {"HTTP_HX_REQUEST": "true"}),
    )
    new_template = reverse("messaging:template_new")
    yield "template_new", Target(new_template, new_template, (MessageTemplate, TemplateVersion))
    edit_template = reverse("messaging:template", kwargs={"pk": template.pk})
    yield "template_edit", Target(edit_template, edit_template, (TemplateVersion,))
    yield (
        "outcome",
        Target(
            reverse("tasks:detail", kwargs={"pk": task.pk}),
            reverse("tasks:outcome", kwargs={"pk": task.pk}),
            (Task, TaskEvent),
        ),
    )
    yield (
        "new_task",
        Target(f"{reverse('tasks:new')}?customer={customer.pk}", reverse("tasks:new"), (Task,)),
    )
    organisation = reverse("organisation:settings")
    yield "organisation", Target(organisation, organisation, (OrganisationSettings,))
    tokens = reverse("accounts:tokens")
    yield (
        "api_token",  # an accepted name shows the new token's secret on the same page
        Target(tokens, tokens, (ApiToken,), accepted=_shows_a_secret),
    )
    channel = reverse("integrations:add_kind", kwargs={"kind": "webhook"})
    yield "channel", Target(channel, channel, ())


def _shows_a_secret(response: Any) -> bool:
    return bool(response.context and response.context.get("secret"))


def submit(client: Client, target: Target, pairs: list[tuple[str, str]], label: str) -> None:
    before = snapshot(target.watched)
    data: dict[str, list[str]] = {}
    for key, value in [*pairs, *target.extra.items()]:
        data.setdefault(key, []).append(value)
    response = client.post(target.post, data, **target.headers)  # type: ignore[arg-type]
    check_answer(response, label)
    if not target.accepted(response):
        assert snapshot(target.watched) == before, f"{label}: a refused form wrote rows"


def test_every_form_survives_the_corpus(alice_client: Client, alice: Any) -> None:
    for name, target in targets(alice):
        form = fields_of(alice_client, target.page)
        assert form.typed, f"{name}: no field to type into on {target.page}"
        for entry, text in CORPUS.items():
            everywhere = [(k, text if k in form.typed else v) for k, v in form.pairs]
            submit(alice_client, target, everywhere, f"{name} × {entry} in every field")
        for typed in sorted(form.typed):
            for entry in SHARP:
                one = [(k, CORPUS[entry] if k == typed else v) for k, v in form.pairs]
                submit(alice_client, target, one, f"{name} × {entry} in {typed}")


@pytest.mark.parametrize("entry", list(CORPUS))
def test_the_template_preview_survives_the_corpus(alice_client: Client, entry: str) -> None:
    a_customer("王小明")
    text = CORPUS[entry]
    typed = {"channel": "sms", "body": text, "version": text, "preview_customer": text}
    response = alice_client.post(reverse("messaging:template_preview"), typed)
    check_answer(response, f"template preview × {entry}")
    query = {"template": text[:2000], "channel": text[:2000]}
    response = alice_client.get(reverse("rules:template_preview"), query)
    check_answer(response, f"builder's template preview × {entry}")


def test_the_calendar_survives_the_corpus(alice_client: Client) -> None:
    for entry, text in CORPUS.items():
        before = snapshot((CalendarDay,))
        day = alice_client.post(reverse("organisation:toggle_day"), {"date": text, "name": text})
        check_answer(day, f"toggle_day × {entry}")
        if day.status_code >= 400:
            assert snapshot((CalendarDay,)) == before, f"toggle_day × {entry}"
        csv = f"date,kind,name\n{text},off,{text}\n".encode()
        upload = {"import-file": SimpleUploadedFile("calendar.csv", csv), "import-year": text}
        url = reverse("organisation:import") + "?year=" + quote(text[:100], safe="")
        check_answer(alice_client.post(url, upload), f"calendar import × {entry}")


# --- the pages that only read what they are asked ----------------------------------------------

QUERIES: dict[str, tuple[str, ...]] = {
    "customers:list": ("q", "tier", "stage", "tag", "owner", "province", "city", "sort", "after"),
    "messaging:messages": ("status", "channel", "rule", "customer", "q", "from", "to", "after"),
    "rules:dashboard": ("period", "from", "to", "status"),
    "rules:list": ("q", "status"),
    "tasks:board": ("team", "status", "assignee", "flag", "priority", "q", "after"),
    "tasks:mine": ("tab", "after"),
    "tasks:new": ("customer", "q", "tier", "owner"),
    "organisation:calendar": ("year",),
}


def test_every_query_survives_the_corpus(alice_client: Client, carol_client: Client) -> None:
    a_customer("王小明")
    for name, params in QUERIES.items():
        client = carol_client if name == "tasks:board" else alice_client
        for entry, text in CORPUS.items():
            if entry in ("oversized", "many_digits"):
                text = text[:2000]  # a URL, not a body
            response = client.get(reverse(name), dict.fromkeys(params, text))
            check_answer(response, f"{name} × {entry}")
            if entry == "nul":
                assert response.status_code == 400


def test_every_id_in_a_path_survives_the_corpus(alice_client: Client) -> None:
    for path in ("/customers/{}/", "/tasks/{}/", "/messages/{}/", "/templates/{}/", "/rules/{}/"):
        for text in ("9" * 30, "0", quote("²"), quote(XSS, safe=""), "..%2F..%2Fetc"):
            response = alice_client.get(path.format(text))
            check_answer(response, path.format(text))


# --- the API, operation by operation -----------------------------------------------------------

EVENT = {
    "type": "purchase",
    "customer_external_id": "C-1",
    "occurred_at": "2026-10-08T09:00:00+08:00",
    "properties": {"amount": 12.5, "sku": "A-1"},
    "idempotency_key": "order-1",
}
CUSTOMER = {
    "external_id": "C-1",
    "name": "王小明",
    "phone": "13800138000",
    "email": "wang@example.com",
    "birthday": "1990-05-01",
    "time_zone": "Asia/Shanghai",
    "tags": ["会员"],
    "attributes": {"plan": "企业版"},
    "consents": [{"channel": "sms", "status": "granted", "recorded_at": "2026-10-01T09:00:00Z"}],
}
# A valid body for each operation of the schema; a new operation must be added here.
BODIES: dict[tuple[str, str], Any] = {
    ("post", "/api/v1/customers"): CUSTOMER,
    ("post", "/api/v1/customers/batch"): {"customers": [CUSTOMER]},
    ("get", "/api/v1/customers/{external_id}"): None,
    ("post", "/api/v1/customers/{external_id}/reveal"): {"field": "phone", "reason": "回访核对"},
    ("post", "/api/v1/events"): EVENT,
    ("post", "/api/v1/events/batch"): {"events": [EVENT]},
    ("get", "/api/v1/event-types"): None,
    ("get", "/api/v1/customers"): None,
    ("get", "/api/v1/events"): None,
    ("get", "/api/v1/tasks"): None,
    ("post", "/api/v1/tasks"): {
        "customer_external_id": "C-1",
        "title": "回访",
        "team": "service",
        "reason": "物流慢",
        "script": "您好 {{客户姓名}}",
        "priority": "high",
        "due_at": "2026-10-09T09:00:00+08:00",
    },
    ("get", "/api/v1/tasks/{task_id}"): None,
    ("post", "/api/v1/tasks/{task_id}/outcome"): {
        "outcome": "call_back",
        "call_back_at": "2099-10-09T09:00:00+08:00",
        "notes": "稍后再打",
        "tags": ["忙"],
    },
    ("post", "/api/v1/tasks/{task_id}/reassign"): {"assignee": None, "reason": "排队"},
    ("get", "/api/v1/messages"): None,
    ("get", "/api/v1/messages/{message_id}"): None,
    ("get", "/api/v1/templates"): None,
    ("get", "/api/v1/templates/{template_id}"): None,
    ("get", "/api/v1/rules"): None,
    ("get", "/api/v1/rules/{key}"): None,
    ("post", "/api/v1/rules/{key}/activate"): {"version": 1, "comment": "上线"},
    ("post", "/api/v1/rules/{key}/pause"): {"reason": "暂停"},
    ("post", "/api/v1/rules/{key}/resume"): {"reason": "继续"},
    ("post", "/api/v1/rules/{key}/simulate"): {"days": 1},
    ("get", "/api/v1/questionnaires"): None,
    ("get", "/api/v1/questionnaires/{key}"): None,
    ("get", "/api/v1/responses"): None,
    ("get", "/api/v1/exports/customers"): None,
    ("post", "/api/v1/imports"): None,  # a file upload: tests/api/test_files.py
    ("post", "/api/v1/imports/{import_id}/check"): {
        "mapping": {"A": "name"},
        "policy": "skip",
        "match_on": ["phone"],
    },
    ("post", "/api/v1/imports/{import_id}/run"): None,
    ("get", "/api/v1/imports/{import_id}"): None,
    ("get", "/api/v1/imports/{import_id}/problems"): None,
}
# Path parameters of the operations that take a body: a row that is there.
PATH_VALUES = {"external_id": "C-1", "task_id": "1", "key": "welcome", "import_id": "1"}
API_ROWS = (Customer, Event, Consent, ContactPoint, Tag)


PARAMETER = re.compile(r"\{(\w+)\}")
WELCOME_RULE = {
    "key": "welcome",
    "name": "购买欢迎",
    "trigger": {"kind": "event", "event": "purchase"},
    "steps": [{"id": "hello", "send": {"channel": "sms", "template": "welcome"}}],
}


def operations() -> list[tuple[str, str]]:
    schema = ninja_api.get_openapi_schema()
    return [
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from leaves(child, (*path, index))
    else:
        yield path


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    node = copy
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = new
    return copy


def deep(depth: int) -> Any:
    value: Any = 1
    for _level in range(depth):
        value = {"x": [value]}
    return value


def hostile_bodies(body: Any, entries: Iterable[str]) -> Iterator[tuple[str, str]]:
    """``(label, raw JSON)``: the body with each leaf in turn replaced by each of ``entries``
    (and by numbers and structures no column holds), then whole hostile documents."""
    for path in leaves(body):
        where = ".".join(map(str, path))
        for entry in entries:
            yield f"{where} × {entry}", json.dumps(replaced(body, path, CORPUS[entry]))
        for label, value in (("huge", 10**30), ("float", 1e308), ("deep", deep(40))):
            yield f"{where} × {label}", json.dumps(replaced(body, path, value))
        yield f"{where} × NaN", json.dumps(replaced(body, path, "§NaN§")).replace('"§NaN§"', "NaN")
    yield "deep document", "[" * 100_000 + "]" * 100_000
    yield "not JSON", "{'a': 1"
    yield "a list", "[1, 2, 3]"
    yield "a string", '"x"'


def test_every_api_operation_survives_the_corpus(api: Client) -> None:
    found = operations()
    assert set(found) == set(BODIES), "give every new API operation a body in BODIES"
    customer = Customer.objects.create(external_id="C-1", name="王小明")
    Team.objects.create(key="service", name="客服一组")
    Task.objects.create(pk=1, customer=customer, title="回访")
    save_rule(parse_rule(WELCOME_RULE))
    Import.objects.create(
        pk=1,
        kind=Import.Kind.CUSTOMERS,
        file_name="a.csv",
        status=Import.Status.DRAFT,
        policy=Import.Policy.SKIP,
        summary={"headers": ["姓名"]},
        data="姓名\n王\n".encode(),
        created_at=timezone.now(),
    )
    for method, path in found:
        body = BODIES[(method, path)]
        if body is None:
            for entry, text in CORPUS.items():
                given = quote(text[:2000], safe="")
                url = PARAMETER.sub(given, path) if "{" in path else f"{path}?cursor={given}"
                check_answer(api.generic(method.upper(), url), f"{method} {url[:80]} × {entry}")
            continue
        # A batch row is checked as the single operation checks its body, and the operations
        # beyond customers and events by the same checks: the sharpest entries are enough there.
        whole = path in ("/api/v1/customers", "/api/v1/events") or "{external_id}" in path
        entries = tuple(CORPUS) if whole else (*SHARP, "nul", "xss")
        url = PARAMETER.sub(lambda m: PATH_VALUES[m.group(1)], path)
        for label, raw in hostile_bodies(body, entries):
            before = snapshot(API_ROWS)
            response = api.generic(method.upper(), url, raw, content_type="application/json")
            check_answer(response, f"{path} {label}")
            refused = response.status_code >= 400 or (
                path.endswith("/batch") and _failed_whole(response.json(), label)
            )
            if refused:
                assert snapshot(API_ROWS) == before, f"{path} {label}: refused, yet written"


def _failed_whole(answer: dict[str, Any], label: str) -> bool:
    """Whether the batch's one row failed, each error saying why."""
    assert answer["failed"] == len(answer["errors"]), label
    assert all(error["message"] for error in answer["errors"]), label
    return bool(answer["failed"])
