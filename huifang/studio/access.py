"""Who may do what with rules, from the permission table: admins and supervisors build,
preview and switch them (``("rule", "edit")``); analysts read them and their figures
(``("rule", "view")``)."""

from __future__ import annotations

from typing import Any

from huifang.accounts.permissions import can, requires

editors = requires("rule", "edit")
readers = requires("rule", "view")


def can_edit(user: Any) -> bool:
    return can(user, "rule", "edit")
