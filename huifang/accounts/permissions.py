"""Who may do what: one table of role × object × action, consulted by views, the API and the
admin, instead of role lists written into each view.

``can(user, "customer", "reveal")`` answers from ``TABLE``; an object or action missing from the
table is refused. Scoping within an allowed action (an agent's own tasks, a supervisor's teams)
is decided by the app that owns the object (``huifang.tasks.access``)."""

from __future__ import annotations

from typing import Any

from .roles import Role, roles_of

ADMIN, SUPERVISOR, AGENT, ANALYST = Role.ADMIN, Role.SUPERVISOR, Role.AGENT, Role.ANALYST
EVERYONE = frozenset({ADMIN, SUPERVISOR, AGENT, ANALYST})

TABLE: dict[tuple[str, str], frozenset[str]] = {
    # Customers: everyone reads them masked; reading a personal detail in full is a
    # deliberate, audited action that analysts (read-only reporting) never take.
    ("customer", "view"): EVERYONE,
    ("customer", "reveal"): frozenset({ADMIN, SUPERVISOR, AGENT}),
    # The audit log.
    ("audit", "view"): frozenset({ADMIN}),
}


def can(user: Any, obj: str, action: str) -> bool:
    allowed = TABLE.get((obj, action), frozenset())
    return bool(roles_of(user) & allowed)


def roles_allowed(obj: str, action: str) -> frozenset[str]:
    return TABLE.get((obj, action), frozenset())
