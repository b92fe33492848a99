"""The authorisation matrix, generated from the permission table (``huifang.accounts.permissions``).

Every URL of the site is walked: each page must name what it asks (``requires``) or why it is
public (``public``). Then every role, an anonymous visitor, every page and both GET and POST:
the answer the table promises (allowed: anything but 403 or an error; refused: 403 for staff,
the sign-in page for a visitor), and a refused write leaves every table of the database as it
was. The same for every API operation and token scope, and for every admin page. A method a page
does not take at all (405, before anyone is asked who they are) has nothing to decide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from huifang.accounts.models import ApiToken, Notification, TokenScope
from huifang.accounts.permissions import (
    PRINCIPALS,
    TABLE,
    Permission,
    permission_of,
    roles_allowed,
)
from huifang.accounts.roles import Role
from huifang.customers.models import Customer
from huifang.engine.lifecycle import activate
from huifang.integrations.models import Provider
from huifang.messaging.services import save_template
from huifang.rules.models import StrategySet
from huifang.rules.services import library_documents, save_rule
from huifang.server.api import api
from huifang.sources.services import create_source
from huifang.subscriptions.models import Delivery, Subscription
from huifang.tasks.models import Task
from tests.conftest import make_staff, rows_for_many_tests

ROLES = [Role.ADMIN.value, Role.SUPERVISOR.value, Role.AGENT.value, Role.ANALYST.value]
# Sessions and the sign-in throttle's bookkeeping change whenever anyone makes a request.
UNWATCHED = {"django_session", "axes_accessattempt", "axes_accesslog", "axes_accessfailurelog"}


def _patterns(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Any]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace in {"admin", "api"}:
                continue  # walked below, by their own tables
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            yield f"{namespace}{pattern.name}", prefix + str(pattern.pattern), pattern.callback


PAGES = sorted(_patterns(get_resolver().url_patterns), key=lambda page: page[0])


def snapshot() -> str:
    """A digest of every row of every table the project writes."""
    digest = hashlib.sha256()
    for model in apps.get_models(include_auto_created=True):
        table = model._meta.db_table
        if table in UNWATCHED or model._meta.proxy:
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            rows = sorted(repr(row) for row in cursor.fetchall())
        digest.update(table.encode())
        digest.update("\n".join(rows).encode())
    return digest.hexdigest()


class Site:
    """One of everything the pages name in their URLs, and a signed-in client per role."""

    def __init__(self) -> None:
        from huifang.accounts.models import Team

        team = Team.objects.create(key="service", name="客服一组")
        self.users = {
            role: make_staff(f"user-{role}", role, team=team, is_staff=True) for role in ROLES
        }
        self.customer = Customer.objects.create(
            external_id="C-1", name="王小明", phone="+8613800138000", email="w@example.cn"
        )
        self.task = Task.objects.create(
            customer=self.customer,
            team=team,
            title="回访",
            assignee=self.users[Role.AGENT.value],
            created_at=timezone.now(),
        )
        document = {d.key: d for d in library_documents()}["retail-after-purchase"]
        saved = save_rule(document, comment="v1")
        activate(saved.rule, saved.version)
        self.rule = saved.rule
        self.gallery_key = document.key
        self.strategy_set = StrategySet.objects.create(key="daily", name="日常")
        self.template = save_template("thanks", "sms", name="Thanks", body="谢谢").template
        provider = Provider(name="群机器人", channel="staff")
        provider.kind = "inapp"
        provider.save()
        self.provider = provider
        self.token, _secret = ApiToken.issue(name="order system")
        self.notification = Notification.objects.create(
            recipient=self.users[Role.AGENT.value], title="新任务"
        )
        # Not allowed by OUTBOUND_HTTP_ALLOW: an administrator's "send test" is refused by the
        # outbound guard at once, without a connection.
        self.subscription = Subscription.objects.create(
            name="订单系统", url="http://127.0.0.1:9/hook", event_types=["task.completed"]
        )
        self.delivery = Delivery.objects.create(
            subscription=self.subscription,
            event_type="task.completed",
            occurred_at=timezone.now(),
            created_at=timezone.now(),
            status=Delivery.Status.DELIVERED,
        )
        self.source, _secret = create_source(
            name="有赞", slug="youzan", ready="youzan-trade-paid", actor=None
        )

    def kwargs(self, name: str, route: str) -> dict[str, Any]:
        """Values for a route's parameters: real objects, so an allowed visit reaches them."""
        found: dict[str, Any] = {}
        by_name = {
            "customers": self.customer.pk,
            "privacy": self.customer.pk,
            "tasks": self.task.pk,
            "messaging:template": self.template.pk,
            "messaging:template_restore": self.template.pk,
            "integrations": self.provider.pk,
            "sources": self.source.pk,
            "accounts:revoke_token": self.token.pk,
            "accounts:open_notification": self.notification.pk,
            "messaging:message": 999_999,
            "subscriptions": self.subscription.pk,
            "rules:switch_cancel": 999_999,
        }
        for key, value in by_name.items():
            if name == key or name.startswith(key + ":"):
                found["pk"] = value
        values = {
            "field": "phone",
            "user_id": self.users[Role.AGENT.value].pk,
            "number": 1,
            "kind": "email",
            "token": "not-a-token",
            "provider_id": self.provider.pk,
            "delivery": self.delivery.pk,
            "key": self.strategy_set.key if name.startswith("rules:set") else self.rule.key,
        }
        if name == "privacy:export":
            values["kind"] = "json"
        if name == "rules:use":
            values["key"] = self.gallery_key
        if name == "rules:switch_cancel":
            values["key"] = self.strategy_set.key
        for part in route.split("<")[1:]:
            parameter = part.split(">")[0].split(":")[-1]
            found.setdefault(parameter, values.get(parameter, 1))
        return found


# The shortest forecast the preview pages offer: what is checked here is who may ask.
QUERIES = {"rules:preview_result": "?days=7", "rules:set_preview": "?days=7"}


def url_of(name: str, route: str, kwargs: dict[str, Any]) -> str:
    url = route
    for part in route.split("<")[1:]:
        placeholder = "<" + part.split(">")[0] + ">"
        parameter = placeholder[1:-1].split(":")[-1]
        url = url.replace(placeholder, str(kwargs[parameter]))
    return "/" + url + QUERIES.get(name, "")


@pytest.fixture(scope="module")
def site(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Site]:
    with rows_for_many_tests(django_db_blocker):
        yield Site()


@pytest.fixture
def clients(site: Site, db: None) -> dict[str, Client]:
    signed_in: dict[str, Client] = {}
    for role, user in site.users.items():
        client = Client()
        client.force_login(user)
        signed_in[role] = client
    return signed_in


# -- the table itself ----------------------------------------------------------------------------


def test_every_page_names_its_permission_or_why_it_is_public() -> None:
    unmarked = [route for _name, route, view in PAGES if permission_of(view) is None]
    assert unmarked == [], f"pages without requires() or public(): {unmarked}"


def test_every_row_of_the_table_names_known_roles_and_is_used() -> None:
    for key, roles in TABLE.items():
        assert roles and roles <= PRINCIPALS, key
    used = {
        (p.obj, action)
        for _name, _route, view in PAGES
        if isinstance(p := permission_of(view), Permission)
        for action in (p.safe, p.unsafe)
    }
    used |= {(p.obj, p.safe) for _m, _path, p in OPERATIONS if p is not None}
    used |= {
        (m.table_object, a)  # type: ignore[attr-defined]
        for m in admin.site._registry.values()
        for a in _admin_actions(m)
    }
    assert set(TABLE) - used == set(), "rows no page, operation or admin page asks for"


# -- pages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "route", "view"), PAGES, ids=[p[0] for p in PAGES])
def test_each_role_gets_what_the_table_says(
    name: str, route: str, view: Any, site: Site, clients: dict[str, Client]
) -> None:
    permission = permission_of(view)
    url = url_of(name, route, site.kwargs(name, route))
    wrong: list[str] = []
    if not isinstance(permission, Permission):  # public: open to an anonymous visitor
        answer = Client().get(url)
        if answer.status_code in {403, 500} or "/login/" in answer.get("Location", ""):
            wrong.append(f"anonymous GET {url}: {answer.status_code}")
        assert not wrong, wrong
        return
    served = 0
    for method in ("GET", "POST"):
        allowed = roles_allowed(permission.obj, permission.action_for(method))
        # The refused first, between two pictures of the database; then the allowed.
        before = snapshot()
        answer = getattr(Client(), method.lower())(url)
        if answer.status_code == 405:
            continue  # the page does not take this method from anyone: nothing to decide
        served += 1
        if answer.status_code != 302 or "/login/" not in answer["Location"]:
            wrong.append(f"anonymous {method} {url}: {answer.status_code}, not the sign-in page")
        refused = [role for role in clients if role not in allowed]
        for role in refused:
            answer = getattr(clients[role], method.lower())(url)
            if answer.status_code != 403:
                wrong.append(f"{role} {method} {url}: {answer.status_code}, not 403")
        if snapshot() != before:
            wrong.append(f"{method} {url} refused to {refused or 'anonymous'} changed the database")
        for role in sorted(allowed & set(clients)):
            # Whatever an analyst may open, they change nothing but their own account.
            read_only = role == Role.ANALYST and permission.obj != "account"
            before = snapshot() if read_only else ""
            answer = getattr(clients[role], method.lower())(url)
            if answer.status_code == 403 or answer.status_code >= 500:
                wrong.append(f"{role} {method} {url}: {answer.status_code}, allowed")
            if read_only and snapshot() != before:
                wrong.append(f"analyst {method} {url} changed the database")
    assert served, f"{url} answers 405 to GET and to POST"
    assert not wrong, "\n".join(wrong)


# -- API -----------------------------------------------------------------------------------------


def _operations() -> list[tuple[str, str, Any]]:
    """(method, path, the permission its token check names) for every API operation."""
    found = []
    for _prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                auth: Any = operation.auth_callbacks[0]
                found.append((operation.methods[0], path, auth.permission))
    return found


OPERATIONS = _operations()


@pytest.mark.parametrize(
    ("method", "path", "permission"), OPERATIONS, ids=[f"{m} {p}" for m, p, _p in OPERATIONS]
)
def test_each_token_scope_gets_what_the_table_says(
    method: str, path: str, permission: Permission | None, site: Site, db: None
) -> None:
    assert isinstance(permission, Permission), f"{method} {path} names no permission"
    url = "/api/v1" + path.replace("{external_id}", site.customer.external_id or "")
    body = {"reason": "回访核对", "field": "phone"} if "reveal" in path else {}
    allowed = roles_allowed(permission.obj, permission.safe)
    wrong: list[str] = []

    def call(client: Client) -> Any:
        if method == "GET":
            return client.get(url)
        return client.post(url, body, content_type="application/json")

    before = snapshot()
    if call(Client()).status_code != 401:
        wrong.append(f"no token {method} {path}: not 401")
    for scope in TokenScope.values:
        _token, secret = ApiToken.issue(name=f"scope {scope}", scope=scope)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
        before = snapshot()
        answer = call(client)
        if f"token:{scope}" in allowed:
            if answer.status_code in {401, 403} or answer.status_code >= 500:
                wrong.append(f"{scope} {method} {path}: {answer.status_code}, allowed")
        else:
            if answer.status_code != 403 or answer.json()["error"]["code"] != "forbidden":
                wrong.append(f"{scope} {method} {path}: {answer.status_code}, not 403")
            if snapshot() != before:
                wrong.append(f"{scope} {method} {path}: refused, yet the database changed")
    assert not wrong, "\n".join(wrong)


def test_a_refused_token_is_told_why_in_the_users_language(site: Site, db: None) -> None:
    _token, secret = ApiToken.issue(name="report", scope=TokenScope.READ)
    answer = Client(HTTP_AUTHORIZATION=f"Bearer {secret}").post(
        "/api/v1/events", {}, content_type="application/json"
    )
    assert answer.status_code == 403
    assert "权限范围" in answer.json()["error"]["message"]


# -- admin ---------------------------------------------------------------------------------------


def _admin_actions(model_admin: Any) -> list[str]:
    return [model_admin.table_view, model_admin.table_edit]


ADMIN_PAGES = sorted(
    (
        (f"{m._meta.app_label}.{m._meta.model_name}", m, model_admin)
        for m, model_admin in admin.site._registry.items()
    ),
    key=lambda page: page[0],
)


@pytest.mark.parametrize(
    ("label", "model", "model_admin"), ADMIN_PAGES, ids=[p[0] for p in ADMIN_PAGES]
)
def test_each_admin_page_answers_from_the_table(
    label: str, model: Any, model_admin: Any, site: Site, clients: dict[str, Client]
) -> None:
    assert model_admin.table_object, f"{label} does not ask the permission table"
    base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    viewers = roles_allowed(model_admin.table_object, model_admin.table_view) | roles_allowed(
        model_admin.table_object, model_admin.table_edit
    )
    wrong: list[str] = []
    for role, client in clients.items():
        answer = client.get(base)
        expected = 200 if role in viewers else 403
        if answer.status_code != expected:
            wrong.append(f"{role} GET {base}: {answer.status_code}, not {expected}")
        if role not in roles_allowed(model_admin.table_object, model_admin.table_edit):
            before = snapshot()
            refused = client.post(base + "add/", {"name": "x", "key": "x"})
            if refused.status_code != 403:
                wrong.append(f"{role} POST {base}add/: {refused.status_code}, not 403")
            if snapshot() != before:
                wrong.append(f"{role} POST {base}add/: refused, yet the database changed")
    assert not wrong, "\n".join(wrong)


def test_staff_without_the_admin_flag_cannot_enter_the_admin(site: Site, db: None) -> None:
    user = get_user_model().objects.get(username=f"user-{Role.ADMIN.value}")
    user.is_staff = False
    user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    assert client.get("/admin/customers/customer/").status_code == 302


def test_the_permissions_page_shows_the_table_the_pages_obey(
    site: Site, clients: dict[str, Client]
) -> None:
    page = clients[Role.ADMIN.value].get("/settings/permissions/").content.decode()
    assert page.count('<th scope="row"') == len(TABLE)
    assert page.count("bi-check-lg") == sum(len(roles) for roles in TABLE.values())
    assert "API 令牌：只读" in page or "API token: read" in page
    menu = clients[Role.ANALYST.value].get("/customers/").content.decode()
    assert "/rules/" in menu  # the menu asks the same table
    assert "/settings/permissions/" not in menu and "/tasks/board/" not in menu
