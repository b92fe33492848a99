"""Whose figures a reader sees (数据范围): one decision for every report, export and command.

- administrators and analysts: the whole organisation (analysts read everything, masked);
- supervisors: the teams they supervise or belong to;
- agents: their own figures — the tasks assigned to them — and nothing of other agents.

A figure that cannot be narrowed to a reader's scope (a message has no agent) is not shown to
that reader rather than shown for everyone: ``Scope.covers`` says which rollups a scope can read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from huifang.accounts.roles import Role, has_role
from huifang.tasks.access import sees_all, team_ids

EVERYTHING = "all"
TEAMS = "teams"
OWN = "own"


@dataclass(frozen=True)
class Scope:
    kind: str = EVERYTHING
    teams: frozenset[int] = frozenset()
    agent_id: int | None = None

    @property
    def everything(self) -> bool:
        return self.kind == EVERYTHING

    def covers(self, dimension: str) -> bool:
        """Whether rollups kept by ``dimension`` ("team" or "agent") can be narrowed to this
        scope: everything needs neither; a team scope needs the team; an agent's needs the
        agent."""
        if self.kind == EVERYTHING:
            return True
        if self.kind == TEAMS:
            return dimension in ("team", "agent")
        return dimension == "agent"

    def label(self) -> str:
        return self.kind


ALL = Scope()


def scope_for(user: Any) -> Scope:
    """The scope of a signed-in member of staff."""
    if sees_all(user):
        return ALL
    if has_role(user, Role.SUPERVISOR):
        return Scope(TEAMS, frozenset(team_ids(user)))
    return Scope(OWN, agent_id=int(user.pk))
