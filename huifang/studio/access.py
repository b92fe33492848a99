"""Who may do what with rules: admins and supervisors build, preview and switch them;
analysts read them and their figures."""

from __future__ import annotations

from huifang.accounts.decorators import role_required
from huifang.accounts.roles import Role

EDITORS = (Role.ADMIN, Role.SUPERVISOR)
READERS = (Role.ADMIN, Role.SUPERVISOR, Role.ANALYST)

editors = role_required(*EDITORS)
readers = role_required(*READERS)
