"""The navigation bar: one entry per capability that exists, shown to the roles that use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huifang.accounts.permissions import can


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str | Promise
    url_name: str
    icon: str
    permission: tuple[str, str]  # (object, action) in the permission table
    settings: bool = False  # under the "Settings" menu rather than in the bar


NAVIGATION = (
    NavItem("my_tasks", _("My follow-ups"), "tasks:mine", "telephone", ("task", "work")),
    NavItem("board", _("Team board"), "tasks:board", "kanban", ("task", "assign")),
    NavItem("customers", _("Customers"), "customers:list", "people", ("customer", "view")),
    NavItem("rules", _("Strategies"), "rules:list", "diagram-3", ("rule", "view")),
    NavItem("surveys", _("Questionnaires"), "rules:survey_list", "ui-checks", ("survey", "view")),
    NavItem("messages", _("Messages"), "messaging:messages", "envelope", ("message", "view")),
    NavItem("templates", _("Templates"), "messaging:templates", "file-text", ("template", "view")),
    NavItem("analytics", _("Analytics"), "analytics:cockpit", "graph-up", ("report", "view")),
    NavItem(
        "channels", _("Channels"), "integrations:list", "broadcast", ("provider", "manage"), True
    ),
    NavItem(
        "sources",
        _("Inbound sources"),
        "sources:list",
        "box-arrow-in-down",
        ("source", "manage"),
        True,
    ),
    NavItem("tokens", _("API tokens"), "accounts:tokens", "key", ("token", "manage"), True),
    NavItem(
        "subscriptions",
        _("Event subscriptions"),
        "subscriptions:list",
        "send",
        ("subscription", "manage"),
        True,
    ),
    NavItem(
        "organisation",
        _("Organisation"),
        "organisation:settings",
        "building-gear",
        ("organisation", "manage"),
        True,
    ),
    NavItem(
        "staff", _("Staff and teams"), "accounts:staff", "people-fill", ("staff", "manage"), True
    ),
    NavItem(
        "permissions",
        _("Roles and permissions"),
        "accounts:permissions",
        "shield-lock",
        ("staff", "manage"),
        True,
    ),
    NavItem("audit", _("Audit log"), "audit", "journal-check", ("audit", "view"), True),
)


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "settings_items": [], "settings_active": False}
    path = request.path
    items: list[dict[str, Any]] = []
    for item in NAVIGATION:
        if not can(user, *item.permission):
            continue
        items.append(
            {
                "label": item.label,
                "url": reverse(item.url_name),
                "icon": item.icon,
                "settings": item.settings,
            }
        )
    # The longest matching entry is the current one: /tasks/board/ is the board, not /tasks/.
    matching = [i for i in items if path.startswith(i["url"])]
    current = max(matching, key=lambda i: len(i["url"]), default=None)
    for entry in items:
        entry["active"] = entry is current
    return {
        "nav_items": [i for i in items if not i["settings"]],
        "settings_items": [i for i in items if i["settings"]],
        "settings_active": any(i["active"] for i in items if i["settings"]),
        "show_admin_link": user.is_staff,
    }
