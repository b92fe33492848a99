"""Who gets a follow-up task: strategies in one registry, chosen per rule step or per team.

Every strategy picks from the team's *pool*: its members with their open load (open tasks
weighted by priority), the tasks they were given today, their daily capacity, leave and skills.
A team's pool is read under a lock on the team's row (``SELECT … FOR UPDATE`` on PostgreSQL; on
SQLite writers queue anyway), so two workers assigning at once take turns: the second sees the
first one's choices and nobody is pushed past capacity. Within one call the pool is updated in
memory, so assigning a thousand tasks costs the same few queries as assigning one.

A strategy that finds nobody falls back to least-loaded; when every agent is on leave or full,
the task waits unassigned in the team's queue (the board shows it, and the worker tries again).
Each choice carries a note that says why, kept in the task's history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Case, Count, IntegerField, Q, Sum, Value, When
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huifang.accounts.assignment import strategies
from huifang.accounts.models import StaffProfile, Team
from huifang.accounts.roles import Role
from huifang.core import held, rows
from huifang.customers.models import Customer
from huifang.organisation.zones import zone

from . import changes
from .models import Task, TaskEvent

# Open work counts by priority: an urgent complaint weighs as much as four routine calls.
WEIGHTS = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
OPEN = (Task.Status.OPEN, Task.Status.IN_PROGRESS)


@dataclass
class Candidate:
    user_id: int
    name: str
    capacity: int
    on_leave: bool
    languages: frozenset[str]
    categories: frozenset[str]
    regions: frozenset[str]
    load: int = 0  # open tasks weighted by priority
    today: int = 0  # tasks given today, against the daily capacity

    @property
    def available(self) -> bool:
        return not self.on_leave and self.today < self.capacity


@dataclass
class Need:
    """What a task asks of its assignee, read from its customer."""

    owner_id: int | None
    language: str
    region: str
    category: str
    fields: Mapping[str, Any]


@dataclass
class Pool:
    team: Team | None
    candidates: list[Candidate]  # by user id: a stable order for round-robin and ties
    last_assignee_id: int | None = None
    outside: dict[int, Candidate] = field(default_factory=dict)  # owners from other teams
    since: datetime | None = None  # the start of today, for counting today's tasks

    def person(self, user_id: int) -> Candidate | None:
        """Anyone active with a staff profile, in the team or not (a field's ``user:``)."""
        found = self.by_id(user_id)
        if found is None and self.since is not None:
            profiles = StaffProfile.objects.select_related("user").filter(
                user_id=user_id, user__is_active=True
            )
            for candidate in _candidates(profiles, self.since.date()):
                _fill_loads([candidate], self.since)
                self.outside[candidate.user_id] = found = candidate
        return found

    def by_id(self, user_id: int | None) -> Candidate | None:
        if user_id is None:
            return None
        for candidate in self.candidates:
            if candidate.user_id == user_id:
                return candidate
        return self.outside.get(user_id)

    def take(self, candidate: Candidate, priority: str) -> None:
        candidate.load += WEIGHTS.get(priority, 2)
        candidate.today += 1
        if candidate in self.candidates:
            self.last_assignee_id = candidate.user_id


@dataclass(frozen=True)
class Choice:
    user_id: int | None
    note: str
    team: Team | None = None  # set when the strategy sends the task to another team


Pick = Callable[[Pool, Need, Task, Mapping[str, Any]], Choice | None]


@dataclass(frozen=True)
class Strategy:
    key: str
    label: str | Promise
    description: str | Promise
    pick: Pick


def _least(candidates: Iterable[Candidate]) -> Candidate | None:
    available = [c for c in candidates if c.available]
    if not available:
        return None
    return min(available, key=lambda c: (c.load, c.today, c.user_id))


def pick_least_loaded(pool: Pool, need: Need, task: Task, options: Mapping[str, Any]) -> Choice:
    chosen = _least(pool.candidates)
    if chosen is None:
        return Choice(None, _("everyone in the team is on leave or at capacity"))
    return Choice(
        chosen.user_id,
        _("least loaded: %(name)s had %(load)s weighted open tasks, %(today)s of %(cap)s today")
        % {"name": chosen.name, "load": chosen.load, "today": chosen.today, "cap": chosen.capacity},
    )


def pick_round_robin(
    pool: Pool, need: Need, task: Task, options: Mapping[str, Any]
) -> Choice | None:
    ordered = pool.candidates
    if not ordered:
        return None
    last = pool.last_assignee_id or 0
    start = next((i for i, c in enumerate(ordered) if c.user_id > last), 0)
    for offset in range(len(ordered)):
        candidate = ordered[(start + offset) % len(ordered)]
        if candidate.available:
            return Choice(
                candidate.user_id, _("round robin: %(name)s's turn") % {"name": candidate.name}
            )
    return None


def pick_owner(pool: Pool, need: Need, task: Task, options: Mapping[str, Any]) -> Choice | None:
    owner = pool.by_id(need.owner_id)
    if owner is None or owner.on_leave:
        return None
    return Choice(owner.user_id, _("the customer's owner, %(name)s") % {"name": owner.name})


SKILLS = (
    ("language", "languages", gettext_lazy("language")),
    ("category", "categories", gettext_lazy("product category")),
    ("region", "regions", gettext_lazy("region")),
)


def pick_skill(pool: Pool, need: Need, task: Task, options: Mapping[str, Any]) -> Choice | None:
    """The agents who match most of what the customer needs (language, product category,
    region), least loaded first; nobody matching falls back to least-loaded."""
    wanted = [(attr, skill, label) for attr, skill, label in SKILLS if getattr(need, attr)]
    if not wanted:
        return None
    best: list[Candidate] = []
    best_score = 0
    for candidate in pool.candidates:
        if not candidate.available:
            continue
        score = sum(getattr(need, attr) in getattr(candidate, skill) for attr, skill, _l in wanted)
        if score > best_score:
            best, best_score = [candidate], score
        elif score == best_score and score:
            best.append(candidate)
    chosen = _least(best)
    if chosen is None:
        return None
    matched = ", ".join(
        f"{label} {getattr(need, attr)}"
        for attr, skill, label in wanted
        if getattr(need, attr) in getattr(chosen, skill)
    )
    return Choice(
        chosen.user_id,
        _("skill match (%(skills)s): %(name)s") % {"skills": matched, "name": chosen.name},
    )


def pick_by_field(pool: Pool, need: Need, task: Task, options: Mapping[str, Any]) -> Choice | None:
    """A field of the customer decides: ``{"field": "source", "map": {"douyin": "user:li",
    "store": "team:store"}}`` — a person, or another team (which then uses its own strategy)."""
    name = str(options.get("field") or "")
    value = str(need.fields.get(name, "") or "")
    target = str((options.get("map") or {}).get(value, ""))
    kind, _sep, key = target.partition(":")
    if kind == "team" and key:
        team = Team.objects.filter(key=key).first()
        if team is not None and (pool.team is None or team.pk != pool.team.pk):
            return Choice(
                None,
                _("%(field)s is “%(value)s”: sent to %(team)s")
                % {"field": name, "value": value, "team": team.name},
                team,
            )
    if kind == "user" and key:
        found = get_user_model().objects.filter(username=key, is_active=True).first()
        candidate = pool.person(found.pk) if found is not None else None
        if candidate is not None and not candidate.on_leave:
            return Choice(
                candidate.user_id,
                _("%(field)s is “%(value)s”: %(name)s")
                % {"field": name, "value": value, "name": candidate.name},
            )
    return None


def register_builtin_strategies() -> None:
    if "least_loaded" in strategies:
        return
    for entry in (
        Strategy(
            "least_loaded",
            gettext_lazy("Least loaded"),
            gettext_lazy(
                "The agent with the least open work (weighted by priority) who is not on "
                "leave and under today's capacity."
            ),
            pick_least_loaded,
        ),
        Strategy(
            "round_robin",
            gettext_lazy("Round robin"),
            gettext_lazy(
                "The team's agents take turns; those on leave or at capacity are skipped."
            ),
            pick_round_robin,
        ),
        Strategy(
            "owner",
            gettext_lazy("Customer owner"),
            gettext_lazy("The customer's owner, unless on leave."),
            pick_owner,
        ),
        Strategy(
            "skill",
            gettext_lazy("Skill match"),
            gettext_lazy(
                "An agent who speaks the customer's language, knows the product category or "
                "covers the region."
            ),
            pick_skill,
        ),
        Strategy(
            "field",
            gettext_lazy("By customer field"),
            gettext_lazy(
                "A field of the customer (source, business line …) names the agent or team."
            ),
            pick_by_field,
        ),
    ):
        strategies.register(entry)


# -- reading the pool ---------------------------------------------------------------------------


def _day_start(now: datetime, name: str | None) -> datetime:
    local = now.astimezone(zone(name))
    return datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)


def _candidates(profiles: Iterable[StaffProfile], today: date) -> list[Candidate]:
    found = []
    for profile in profiles:
        on_leave = profile.on_leave and (
            profile.leave_until is None or profile.leave_until >= today
        )
        found.append(
            Candidate(
                profile.user_id,
                profile.name,
                profile.daily_capacity,
                on_leave,
                frozenset(profile.languages),
                frozenset(profile.product_categories),
                frozenset(profile.regions),
            )
        )
    return found


def _fill_loads(candidates: list[Candidate], since: datetime) -> None:
    if not candidates:
        return
    weight = Case(
        *[When(priority=p, then=Value(w)) for p, w in WEIGHTS.items()],
        default=Value(2),
        output_field=IntegerField(),
    )
    loads = (
        Task.objects.filter(assignee_id__in=[c.user_id for c in candidates])
        .values("assignee_id")
        .annotate(
            load=Sum(weight, filter=Q(status__in=OPEN)),
            today=Count("id", filter=Q(assigned_at__gte=since)),
        )
    )
    by_id = {c.user_id: c for c in candidates}
    for row in loads:
        by_id[row["assignee_id"]].load = row["load"] or 0
        by_id[row["assignee_id"]].today = row["today"] or 0


def load_pool(team: Team | None, now: datetime, owners: Iterable[int] = ()) -> Pool:
    since = _day_start(now, team.time_zone if team is not None else None)
    today = since.date()
    profiles = StaffProfile.objects.select_related("user").filter(user__is_active=True)
    # Agents take the team's tasks; a supervisor in the team is there to watch, not to be
    # dealt tasks (an owner or a named user still gets theirs, whatever their role).
    agents = profiles.filter(team=team, user__groups__name=Role.AGENT).distinct()
    members = (
        # Read once in a simulation (``held``): nobody edits the staff on its clock.
        _candidates(
            held.once(("team_agents", team.pk), lambda: list(agents.order_by("user_id"))), today
        )
        if team is not None
        else []
    )
    known = {c.user_id for c in members}
    others = _candidates(profiles.filter(user_id__in=set(owners) - known), today)
    _fill_loads(members + others, since)
    return Pool(
        team,
        members,
        team.last_assignee_id if team is not None else None,
        {c.user_id: c for c in others},
        since,
    )


def need_of(customer: Customer) -> Need:
    attributes = customer.attributes or {}
    return Need(
        owner_id=customer.owner_id,
        language=customer.language or "",
        region=customer.province or "",
        category=str(attributes.get("product_category") or customer.business_line or ""),
        fields={
            "source": customer.source,
            "business_line": customer.business_line,
            "province": customer.province,
            "city": customer.city,
            "tier": customer.tier,
            "language": customer.language,
            **{f"attributes.{k}": v for k, v in attributes.items()},
        },
    )


# -- assigning ----------------------------------------------------------------------------------


def choose(pool: Pool, need: Need, task: Task, key: str, options: Mapping[str, Any]) -> Choice:
    register_builtin_strategies()
    strategy = strategies.get(key) or strategies["least_loaded"]
    choice = strategy.pick(pool, need, task, options)
    if choice is not None and (choice.user_id is not None or choice.team is not None):
        return choice
    fallback = pick_least_loaded(pool, need, task, options)
    if strategy.key == "least_loaded" or fallback.user_id is None:
        return fallback
    return Choice(
        fallback.user_id,
        _("%(strategy)s found nobody; %(fallback)s")
        % {"strategy": strategy.label, "fallback": fallback.note},
    )


def assign(
    tasks: list[Task],
    *,
    now: datetime,
    options: Mapping[int, Mapping[str, Any]] | None = None,
    actor: Any = None,
) -> None:
    """Give each (saved, unassigned) task an assignee by its strategy — the task's own, else
    its team's — and record why. Locks each team's row while its pool is read and changed."""
    by_team: dict[int | None, list[Task]] = {}
    for task in tasks:
        by_team.setdefault(task.team_id, []).append(task)
    customers = Customer.objects.in_bulk({t.customer_id for t in tasks})
    events: list[TaskEvent] = []
    changed: list[Task] = []
    with transaction.atomic():
        pending = list(by_team.items())
        seen: set[int | None] = set()
        sent_on: set[int] = set()  # tasks another team received: they follow its settings
        while pending:
            team_id, group = pending.pop(0)
            team = Team.objects.select_for_update().get(pk=team_id) if team_id is not None else None
            seen.add(team_id)
            owners = {c.owner_id for c in customers.values() if c.owner_id is not None}
            pool = load_pool(team, now, owners)
            moved: dict[int, list[Task]] = {}
            for task in group:
                key = task.assign_strategy or (team.assign_strategy if team else "owner")
                own = None if id(task) in sent_on else (options or {}).get(id(task))
                opts = own or (team.assign_options if team else {})
                customer = customers[task.customer_id]
                choice = choose(pool, need_of(customer), task, key, opts)
                if choice.team is not None and choice.team.pk not in seen:
                    task.team = choice.team
                    task.assign_strategy = ""
                    sent_on.add(id(task))
                    moved.setdefault(choice.team.pk, []).append(task)
                    events.append(_event(task, now, actor, None, choice.note))
                    continue
                if choice.user_id is not None:
                    candidate = pool.by_id(choice.user_id)
                    assert candidate is not None
                    pool.take(candidate, task.priority)
                    task.assignee_id = choice.user_id
                    task.assigned_at = now
                events.append(_event(task, now, actor, choice.user_id, choice.note))
                changed.append(task)
            if team is not None and pool.last_assignee_id != team.last_assignee_id:
                Team.objects.filter(pk=team.pk).update(last_assignee_id=pool.last_assignee_id)
            pending.extend(moved.items())
        stamp = timezone.now()  # as every update of a task says when it happened
        for task in changed:
            task.updated_at = stamp
        rows.write(changed, ["assignee", "assigned_at", "team", "assign_strategy", "updated_at"])
        TaskEvent.objects.bulk_create(events)
        given = [t for t in changed if t.assignee_id is not None]
        if given:
            changes.happened(changes.ASSIGNED, given, now)


def _event(task: Task, now: datetime, actor: Any, user_id: int | None, note: str) -> TaskEvent:
    return TaskEvent(
        task=task,
        kind=TaskEvent.Kind.ASSIGNED,
        at=now,
        actor=actor,
        data={"to": user_id, "note": note, "team": task.team_id},
    )
