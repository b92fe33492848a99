"""Who may do what: one table of role × object × action that the pages, the API and the admin
all consult, instead of role lists written into each view.

- ``can(who, "customer", "reveal")`` answers from ``TABLE`` for a signed-in user or an API
  token; an object or action missing from the table is refused.
- ``requires("rule", "edit")`` guards a page: signed-in, allowed, else 403 before the view
  runs (nothing is read or written). ``requires("template", "view", post="edit")`` gives one page
  a second action for its writes (POST, PUT, PATCH, DELETE).
- ``public(why)`` marks the few pages anyone may open (sign-in, unsubscribe, short links,
  provider callbacks that carry their own secret): every URL is one or the other, and the
  authorisation-matrix test walks them all.
- ``TableAdmin`` makes a Django admin page answer from the same table.

Scoping within an allowed action (an agent's own tasks, a supervisor's teams, team-scoped
customers) is decided by the app that owns the object (``huifang.tasks.access``,
``huifang.customers.visibility``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .decorators import fragment_login_required
from .roles import Role, roles_of

View = Callable[..., Any]

ADMIN, SUPERVISOR, AGENT, ANALYST = (
    Role.ADMIN.value,
    Role.SUPERVISOR.value,
    Role.AGENT.value,
    Role.ANALYST.value,
)
STAFF = frozenset({ADMIN, SUPERVISOR, AGENT, ANALYST})
WORKERS = frozenset({ADMIN, SUPERVISOR, AGENT})  # staff who contact customers
EDITORS = frozenset({ADMIN, SUPERVISOR})  # staff who build rules and templates
READERS = frozenset({ADMIN, SUPERVISOR, ANALYST})  # staff who read rules and their figures

# API tokens act under one of three scopes (``ApiToken.scope``), each a role of its own here.
TOKEN_READ, TOKEN_WRITE, TOKEN_REVEAL = "token:read", "token:write", "token:reveal"
TOKENS = frozenset({TOKEN_READ, TOKEN_WRITE, TOKEN_REVEAL})
WRITERS = frozenset({TOKEN_WRITE, TOKEN_REVEAL})  # tokens that may change things
PRINCIPALS = STAFF | TOKENS

TABLE: dict[tuple[str, str], frozenset[str]] = {
    # The start page and one's own things: notifications, password, two-factor.
    ("workspace", "view"): STAFF,
    ("account", "own"): STAFF,
    # Customers: everyone reads them masked; reading a personal detail in full is a
    # deliberate, audited action that analysts (read-only reporting) never take. Customers
    # are written by the systems that own them (API, import) and by administrators.
    ("customer", "view"): STAFF | TOKENS,
    # Staff who talk to customers correct their profile and record consent as they hear it.
    ("customer", "edit"): WORKERS | {TOKEN_WRITE, TOKEN_REVEAL},
    ("customer", "reveal"): WORKERS | {TOKEN_REVEAL},
    # Bringing a file of customers in, and taking an import back: administrators.
    ("customer", "import"): frozenset({ADMIN}) | WRITERS,
    # The customer list as a file (masked; in full for those who may reveal, audited): those
    # who read the figures and run the teams, not agents.
    ("customer", "export"): READERS | TOKENS,
    # The customer's rights (PIPL Art. 45, 47): everything held about one customer, in full,
    # as a file for them (so only those who may show personal details, and run the teams);
    # erasing their personal data: administrators.
    ("customer", "access"): EDITORS,
    ("customer", "erase"): frozenset({ADMIN}),
    ("event", "view"): STAFF | TOKENS,
    ("event", "create"): frozenset({ADMIN, TOKEN_WRITE, TOKEN_REVEAL}),
    # Follow-up tasks: everyone reads the ones in their scope; analysts never change one.
    # API tokens act for an integration (a ticket system opening and closing follow-ups):
    # every token reads, write tokens change.
    ("task", "view"): STAFF | TOKENS,
    ("task", "create"): WORKERS | WRITERS,
    ("task", "work"): WORKERS | WRITERS,
    ("task", "assign"): EDITORS | WRITERS,
    # The tasks a list shows, as a file, within the same scope (an agent's own and their
    # team's): everyone who reads tasks; the phone in full only for those who may reveal.
    ("task", "export"): STAFF,
    # Rules and templates.
    ("rule", "view"): READERS | TOKENS,
    ("rule", "edit"): EDITORS | WRITERS,
    ("template", "view"): STAFF | TOKENS,
    # Questionnaires: everyone reads them (agents fill them in on calls); editors change them.
    ("survey", "view"): STAFF | TOKENS,
    ("survey", "edit"): EDITORS,
    # Results exports put every answer with its customer in one file: those who read figures
    # (analysts included), not agents, who fill questionnaires in on calls.
    ("survey", "export"): READERS,
    ("template", "edit"): EDITORS,
    ("message", "view"): STAFF | TOKENS,
    # The message log as a file holds every customer's messages: as for the customer list,
    # those who read the figures and run the teams, not agents.
    ("message", "export"): READERS,
    # Reports: everyone reads figures, narrowed by ``analytics.scope.scope_for`` (analysts and
    # administrators everything, supervisors their teams, agents their own tasks).
    ("report", "view"): STAFF,
    # Report tables as files, and reports e-mailed on a schedule: those who read figures.
    # Agents see their own figures on the pages; a file of them adds nothing worth a download.
    ("report", "export"): READERS,
    ("report", "schedule"): READERS,
    # The organisation's set-up, kept by administrators.
    ("organisation", "manage"): frozenset({ADMIN}),
    ("provider", "manage"): frozenset({ADMIN}),
    # Order and ticket systems that push to Huifang: their signing secrets and mappings.
    ("source", "manage"): frozenset({ADMIN}),
    ("token", "manage"): frozenset({ADMIN}),
    ("staff", "manage"): frozenset({ADMIN}),
    ("audit", "view"): frozenset({ADMIN}),
    ("audit", "export"): frozenset({ADMIN}),
    # Other systems told of events (outgoing webhooks): their URLs and delivery logs.
    ("subscription", "manage"): frozenset({ADMIN}),
}

# What the table's objects and actions are called on the permissions page.
OBJECTS = {
    "workspace": _("Start page"),
    "account": _("Own account"),
    "customer": _("Customers"),
    "event": _("Events"),
    "task": _("Follow-up tasks"),
    "rule": _("Rules"),
    "template": _("Templates"),
    "survey": _("Questionnaires"),
    "message": _("Messages"),
    "report": _("Reports"),
    "organisation": _("Organisation settings"),
    "provider": _("Channels"),
    "source": _("Inbound sources"),
    "token": _("API tokens"),
    "staff": _("Staff and roles"),
    "audit": _("Audit log"),
    "subscription": _("Event subscriptions"),
}
ACTIONS = {
    "view": _("view"),
    "own": _("manage"),
    "edit": _("edit"),
    "reveal": _("show in full"),
    "create": _("create"),
    "work": _("work on"),
    "assign": _("assign"),
    "manage": _("manage"),
    "export": _("export"),
    "schedule": _("schedule"),
    "import": _("import from files, and undo"),
    "access": _("hand over everything held about one (access request)"),
    "erase": _("erase one's personal data (erasure request)"),
}
PRINCIPAL_NAMES = {
    ADMIN: Role.ADMIN.label,
    SUPERVISOR: Role.SUPERVISOR.label,
    AGENT: Role.AGENT.label,
    ANALYST: Role.ANALYST.label,
    TOKEN_READ: _("API token: read"),
    TOKEN_WRITE: _("API token: write"),
    TOKEN_REVEAL: _("API token: write and show in full"),
}
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def principal_roles(who: Any) -> set[str]:
    """The roles a signed-in user or an API token acts under."""
    scope = getattr(who, "api_scope", None)
    if scope is not None:
        return {f"token:{scope}"}
    return roles_of(who)


def can(who: Any, obj: str, action: str) -> bool:
    allowed = TABLE.get((obj, action), frozenset())
    return bool(principal_roles(who) & allowed)


def roles_allowed(obj: str, action: str) -> frozenset[str]:
    return TABLE.get((obj, action), frozenset())


@dataclass(frozen=True)
class Permission:
    """What a page asks of its visitor: ``safe`` for GET and HEAD, ``unsafe`` for writes."""

    obj: str
    safe: str
    unsafe: str

    def action_for(self, method: str) -> str:
        return self.unsafe if method.upper() in UNSAFE else self.safe


def requires(
    obj: str, action: str, *, post: str | None = None, fragment: bool = False
) -> Callable[[View], View]:
    """Signed-in staff whom the table allows ``action`` on ``obj`` (``post`` for writes, when
    given); anyone else signed in gets 403 and nothing happens; anonymous visitors go to the
    sign-in page (``fragment``: pieces htmx fetches into a page reload it instead)."""
    for act in {action, post or action}:
        if (obj, act) not in TABLE:
            raise KeyError(f"({obj!r}, {act!r}) is not in the permission table")
    permission = Permission(obj, action, post or action)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not can(request.user, obj, permission.action_for(request.method or "GET")):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        guarded: Any = (fragment_login_required if fragment else login_required)(wrapped)
        guarded.permission = permission
        return guarded

    return decorator


def public(why: str) -> Callable[[View], View]:
    """A page anyone may open; ``why`` says what protects it instead."""

    def decorator(view: View) -> View:
        view.public = why  # type: ignore[attr-defined]
        return view

    return decorator


def permission_of(view: Any) -> Permission | str | None:
    """A page's ``Permission``, the reason it is public, or None when it has neither."""
    permission = getattr(view, "permission", None)
    if permission is not None:
        return permission  # type: ignore[no-any-return]
    return getattr(view, "public", None)


class TableAdmin:
    """A Django admin page that answers from the table: ``table_object`` names the object,
    viewing needs ``table_view`` and adding, changing and deleting need ``table_edit``. Staff
    status is still required to enter the admin at all; read-only and no-delete mixins placed
    before this one keep their refusals."""

    table_object: str = ""
    table_view: str = "view"
    table_edit: str = "edit"

    def _table(self, request: HttpRequest, action: str) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and can(user, self.table_object, action))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._table(request, self.table_view)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._table(request, self.table_view) or self._table(request, self.table_edit)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._table(request, self.table_edit)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._table(request, self.table_edit)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._table(request, self.table_edit)
