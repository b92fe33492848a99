"""Who gets a follow-up task: every strategy of the registry with leave, daily capacity and
skills, the fallback to least-loaded, the queue when everyone is full — and in each case the
note in the task's history that says why."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from huifang.accounts.models import Team
from huifang.customers.models import Customer
from huifang.engine.models import Enrollment
from huifang.integrations import dry_run
from huifang.tasks.models import Reminder, Task, TaskEvent
from huifang.tasks.reminders import retry_waiting
from huifang.tasks.services import Opening, create_tasks, open_tasks, set_leave
from tests.engine.world import World

from .helpers import a_customer, agent, assigned_events, local, note_of, workload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

NOW = local("2026-11-02 10:00")  # a Monday morning


@pytest.fixture
def dave(service_team: Team, bob: Any) -> Any:
    return agent("dave", service_team)


@pytest.fixture
def erin(service_team: Team, dave: Any) -> Any:
    return agent("erin", service_team)


def strategy(team: Team, key: str, **options: Any) -> None:
    team.assign_strategy, team.assign_options = key, options
    team.save()


def give(team: Team, *customers: Customer, now: Any = NOW, **extra: Any) -> list[Task]:
    tasks = create_tasks(
        list(customers), title="回访 {{客户姓名}}", actor=None, team=team, now=now, **extra
    )
    for task in tasks:
        task.refresh_from_db()
    return tasks


def assignees(tasks: list[Task]) -> list[str]:
    return [t.assignee.username if t.assignee else "(nobody)" for t in tasks]


# -- owner --------------------------------------------------------------------------------------


def test_it_gives_the_task_to_the_customers_owner(
    service_team: Team, bob: Any, dave: Any, erin: Any
) -> None:
    strategy(service_team, "owner")
    workload(dave, count=3)  # the busiest, and still the owner
    (task,) = give(service_team, a_customer(owner=dave))
    assert task.assignee == dave
    assert task.assigned_at == NOW
    assert note_of(task) == "the customer's owner, Dave"
    (event,) = assigned_events(task)
    assert event.data["to"] == dave.pk
    assert event.data["team"] == service_team.pk


def test_an_owner_in_another_team_still_gets_their_customer(service_team: Team, bob: Any) -> None:
    sales = Team.objects.create(key="sales", name="销售组")
    frank = agent("frank", sales)
    strategy(service_team, "owner")
    (task,) = give(service_team, a_customer(owner=frank))
    assert task.assignee == frank


def test_an_owner_on_leave_falls_back_to_the_least_loaded_agent(
    service_team: Team, bob: Any, dave: Any, erin: Any
) -> None:
    strategy(service_team, "owner")
    set_leave(dave.staff_profile, on_leave=True, until=date(2026, 11, 6))
    workload(bob)
    (task,) = give(service_team, a_customer(owner=dave))
    assert task.assignee == erin
    assert note_of(task) == (
        "Customer owner found nobody; least loaded: Erin had 0 weighted open tasks, 0 of 30 today"
    )


def test_a_customer_without_an_owner_falls_back_too(service_team: Team, bob: Any) -> None:
    strategy(service_team, "owner")
    (task,) = give(service_team, a_customer())
    assert task.assignee == bob
    assert note_of(task).startswith("Customer owner found nobody; least loaded: Bob")


# -- round robin --------------------------------------------------------------------------------


def test_round_robin_takes_turns_in_one_batch(
    service_team: Team, bob: Any, dave: Any, erin: Any
) -> None:
    strategy(service_team, "round_robin")
    workload(bob, count=5)  # load does not matter: it is bob's turn
    tasks = give(service_team, *[a_customer() for _n in range(4)])
    assert assignees(tasks) == ["bob", "dave", "erin", "bob"]
    assert [note_of(t) for t in tasks] == [
        "round robin: Bob's turn",
        "round robin: Dave's turn",
        "round robin: Erin's turn",
        "round robin: Bob's turn",
    ]
    service_team.refresh_from_db()
    assert service_team.last_assignee == bob


def test_round_robin_keeps_its_pointer_across_calls(
    service_team: Team, bob: Any, dave: Any, erin: Any
) -> None:
    strategy(service_team, "round_robin")
    turns = []
    for _n in range(4):
        (task,) = give(service_team, a_customer())
        turns.extend(assignees([task]))
        service_team.refresh_from_db()
        assert service_team.last_assignee == task.assignee
    assert turns == ["bob", "dave", "erin", "bob"]


def test_round_robin_skips_agents_on_leave_and_at_capacity(
    service_team: Team, bob: Any, dave: Any, erin: Any
) -> None:
    strategy(service_team, "round_robin")
    set_leave(dave.staff_profile, on_leave=True)
    erin.staff_profile.daily_capacity = 1
    erin.staff_profile.save()
    tasks = give(service_team, *[a_customer() for _n in range(4)])
    assert assignees(tasks) == ["bob", "erin", "bob", "bob"]


# -- least loaded -------------------------------------------------------------------------------


def test_least_loaded_weighs_open_work_by_priority(
    service_team: Team, bob: Any, dave: Any, erin: Any
) -> None:
    workload(bob, priority="urgent")  # 1 task, weight 4
    workload(dave, priority="low", count=3)  # 3 tasks, weight 3
    workload(erin, priority="high", count=2)  # weight 6
    workload(erin, count=4, status=Task.Status.DONE)  # done work weighs nothing
    (task,) = give(service_team, a_customer())
    assert task.assignee == dave
    assert note_of(task) == "least loaded: Dave had 3 weighted open tasks, 0 of 30 today"


def test_least_loaded_spreads_a_batch_by_the_weight_it_hands_out(
    service_team: Team, bob: Any, dave: Any
) -> None:
    tasks = give(service_team, *[a_customer() for _n in range(4)], priority="urgent")
    assert sorted(assignees(tasks)) == ["bob", "bob", "dave", "dave"]


def test_least_loaded_stops_at_the_daily_capacity(service_team: Team, bob: Any, dave: Any) -> None:
    bob.staff_profile.daily_capacity = 2
    bob.staff_profile.save()
    workload(bob, count=2, status=Task.Status.DONE, assigned_at=local("2026-11-02 08:30"))
    workload(dave, count=3)  # dave is busier, but bob had his two for today
    (task,) = give(service_team, a_customer())
    assert task.assignee == dave
    # Tomorrow bob is free again.
    (tomorrow,) = give(service_team, a_customer(), now=local("2026-11-03 09:00"))
    assert tomorrow.assignee == bob
    assert note_of(tomorrow) == "least loaded: Bob had 0 weighted open tasks, 0 of 2 today"


@pytest.mark.parametrize(
    ("leave_until", "on_leave"),
    [
        (None, True),  # until further notice
        (date(2026, 11, 2), True),  # the last day of leave is today
        (date(2026, 11, 1), False),  # it ended yesterday: back at work
    ],
)
def test_leave_keeps_an_agent_out_until_it_ends(
    service_team: Team, bob: Any, dave: Any, leave_until: date | None, on_leave: bool
) -> None:
    workload(dave, count=2)
    set_leave(bob.staff_profile, on_leave=True, until=leave_until)
    (task,) = give(service_team, a_customer())
    assert task.assignee == (dave if on_leave else bob)


def test_coming_back_from_leave_clears_the_end_date(bob: Any) -> None:
    set_leave(bob.staff_profile, on_leave=True, until=date(2026, 11, 6))
    set_leave(bob.staff_profile, on_leave=False, until=date(2026, 11, 6))
    bob.staff_profile.refresh_from_db()
    assert (bob.staff_profile.on_leave, bob.staff_profile.leave_until) == (False, None)


def test_a_supervisor_in_the_team_is_not_dealt_tasks(service_team: Team, carol: Any) -> None:
    (task,) = give(service_team, a_customer())
    assert task.assignee is None


# -- skills -------------------------------------------------------------------------------------


@pytest.fixture
def english_speaker() -> Customer:
    return a_customer(
        "Tom", language="en", province="广东", attributes={"product_category": "空调"}
    )


def test_skill_match_picks_the_agent_who_matches_most(
    service_team: Team, english_speaker: Customer
) -> None:
    strategy(service_team, "skill")
    agent("bob", service_team, languages=["en"])
    agent("dave", service_team, languages=["en"], product_categories=["空调"])
    erin = agent(
        "erin", service_team, languages=["en"], product_categories=["空调"], regions=["广东"]
    )
    workload(erin, count=3)  # the best match, however busy
    (task,) = give(service_team, english_speaker)
    assert task.assignee == erin
    assert note_of(task) == "skill match (language en, product category 空调, region 广东): Erin"


def test_skill_match_breaks_a_tie_by_load(service_team: Team, english_speaker: Customer) -> None:
    strategy(service_team, "skill")
    bob = agent("bob", service_team, languages=["en"])
    dave = agent("dave", service_team, regions=["广东"])
    agent("erin", service_team, languages=["ja"])
    workload(bob)
    (task,) = give(service_team, english_speaker)
    assert task.assignee == dave
    assert note_of(task) == "skill match (region 广东): Dave"


def test_skill_match_reads_the_category_from_the_business_line(service_team: Team) -> None:
    strategy(service_team, "skill")
    agent("bob", service_team)
    dave = agent("dave", service_team, product_categories=["净水器"])
    (task,) = give(service_team, a_customer(business_line="净水器"))
    assert task.assignee == dave


def test_skill_match_passes_over_a_matching_agent_on_leave(
    service_team: Team, english_speaker: Customer
) -> None:
    strategy(service_team, "skill")
    bob = agent("bob", service_team, languages=["en"], on_leave=True)
    dave = agent("dave", service_team, product_categories=["空调"])
    (task,) = give(service_team, english_speaker)
    assert task.assignee == dave != bob


def test_nobody_matching_falls_back_to_least_loaded_and_says_so(service_team: Team) -> None:
    strategy(service_team, "skill")
    bob = agent("bob", service_team, languages=["en"])
    dave = agent("dave", service_team, regions=["北京"])
    workload(bob)
    (task,) = give(service_team, a_customer(language="zh-hans", province="西藏"))
    assert task.assignee == dave
    assert note_of(task) == (
        "Skill match found nobody; least loaded: Dave had 0 weighted open tasks, 0 of 30 today"
    )


# -- by a field of the customer -----------------------------------------------------------------


@pytest.fixture
def store_team(db: None) -> Team:
    return Team.objects.create(key="store", name="门店组")


@pytest.fixture
def by_source(service_team: Team, store_team: Team, bob: Any, dave: Any) -> Team:
    strategy(
        service_team,
        "field",
        field="source",
        map={"douyin": "user:dave", "store": "team:store", "vip": "user:carol"},
    )
    return service_team


def test_a_field_names_the_agent(by_source: Team, dave: Any) -> None:
    workload(dave, count=4)
    (task,) = give(by_source, a_customer(source="douyin"))
    assert task.assignee == dave
    assert note_of(task) == "source is “douyin”: Dave"


def test_a_field_sends_the_task_to_another_team_which_uses_its_own_strategy(
    by_source: Team, store_team: Team
) -> None:
    frank = agent("frank", store_team)
    (task,) = give(by_source, a_customer(source="store"))
    assert (task.team, task.assignee) == (store_team, frank)
    moved, chosen = assigned_events(task)
    assert moved.data == {
        "to": None,
        "team": store_team.pk,
        "note": "source is “store”: sent to 门店组",
    }
    assert chosen.data["to"] == frank.pk
    assert chosen.data["note"].startswith("least loaded: Frank")


def test_a_rules_field_map_sends_the_task_on_to_a_team_that_uses_its_own_settings(
    service_team: Team, store_team: Team, bob: Any
) -> None:
    """A rule step's own map (``assign: {strategy: field, …}``) sends the task to the store
    team; there the store team's strategy decides with the store team's own map."""
    agent("frank", store_team)
    gina = agent("gina", store_team)
    strategy(store_team, "field", field="city", map={"深圳": "user:gina"})
    task = Task(
        customer=a_customer(source="store", city="深圳"),
        team=service_team,
        title="回访",
        assign_strategy="field",
        created_at=NOW,
    )
    rule_step = {"field": "source", "map": {"store": "team:store"}}
    open_tasks([Opening(task, options=rule_step)], now=NOW)
    task.refresh_from_db()
    assert (task.team, task.assignee) == (store_team, gina)
    assert note_of(task) == "city is “深圳”: Gina"


def test_a_field_value_without_a_target_falls_back(by_source: Team, bob: Any, dave: Any) -> None:
    workload(dave)
    (task,) = give(by_source, a_customer(source="天猫"))
    assert task.assignee == bob
    assert note_of(task).startswith("By customer field found nobody; least loaded: Bob")


def test_a_field_can_name_the_teams_supervisor(by_source: Team, carol: Any) -> None:
    """The pool comment says "an owner or a named user still gets theirs, whatever their role"."""
    (task,) = give(by_source, a_customer(source="vip"))
    assert task.assignee == carol
    assert note_of(task) == "source is “vip”: Carol"


def test_a_field_can_name_an_agent_of_another_team(service_team: Team, bob: Any) -> None:
    sales = Team.objects.create(key="sales", name="销售组")
    frank = agent("frank", sales)
    strategy(service_team, "field", field="source", map={"douyin": "user:frank"})
    (task,) = give(service_team, a_customer(source="douyin"))
    assert task.assignee == frank


def test_a_tasks_own_strategy_wins_over_the_teams(service_team: Team, bob: Any, dave: Any) -> None:
    workload(bob, count=3)
    (task,) = give(service_team, a_customer(owner=bob), strategy="owner")
    assert task.assignee == bob
    assert task.assign_strategy == "owner"


# -- nobody free --------------------------------------------------------------------------------


def test_when_everyone_is_full_or_away_the_task_waits_in_the_queue(
    service_team: Team, bob: Any, dave: Any
) -> None:
    set_leave(bob.staff_profile, on_leave=True)
    dave.staff_profile.daily_capacity = 1
    dave.staff_profile.save()
    first, second = give(service_team, a_customer(), a_customer())
    assert first.assignee == dave
    assert (second.assignee, second.assigned_at) == (None, None)
    assert note_of(second) == "everyone in the team is on leave or at capacity"
    assert assigned_events(second)[0].data["to"] is None
    assert not Reminder.objects.filter(task=second, recipient__isnull=False).exists()


def test_a_waiting_task_is_offered_again_when_capacity_frees_up(
    service_team: Team, bob: Any
) -> None:
    bob.staff_profile.daily_capacity = 1
    bob.staff_profile.save()
    _first, waiting = give(service_team, a_customer(), a_customer())
    assert waiting.assignee is None
    # Too soon: nothing changed today.
    Task.objects.filter(pk=waiting.pk).update(updated_at=local("2026-11-02 10:00"))
    assert retry_waiting(local("2026-11-02 10:03")) == 0
    # The next morning bob has room again.
    morning = local("2026-11-03 09:00")
    assert retry_waiting(morning) == 1
    waiting.refresh_from_db()
    assert (waiting.assignee, waiting.assigned_at) == (bob, morning)
    assert note_of(waiting) == "least loaded: Bob had 2 weighted open tasks, 0 of 1 today"
    assert Reminder.objects.filter(
        task=waiting, kind=Reminder.Kind.ASSIGNED, recipient=bob, due_at=morning
    ).exists()


def test_assignment_by_hand_is_kept_and_noted(service_team: Team, bob: Any, dave: Any) -> None:
    (task,) = give(service_team, a_customer(), assignee=dave)
    assert task.assignee == dave
    assert note_of(task) == "chosen by hand"
    assert len(assigned_events(task)) == 1


# -- from a rule, end to end --------------------------------------------------------------------


def test_a_rules_task_step_opens_an_assigned_task_in_the_named_team(
    service_team: Team, bob: Any, dave: Any
) -> None:
    world = World(NOW)
    strategy(service_team, "least_loaded")
    world.rule(
        {
            "key": "call-after-complaint",
            "name": "投诉后电话回访",
            "trigger": {"kind": "event", "event": "ticket_opened"},
            "steps": [
                {
                    "id": "call",
                    "task": {
                        "title": "回访 {{客户姓名}}",
                        "sla": {"hours": 4},
                        "priority": "urgent",
                        "assign": {"strategy": "round_robin", "team": "service"},
                    },
                }
            ],
        }
    )
    first, second = world.customer("韩梅梅"), world.customer("李雷")
    world.event(first, "ticket_opened", ticket_id="T-1")
    world.event(second, "ticket_opened", ticket_id="T-2")
    world.run()
    tasks = list(Task.objects.filter(rule__key="call-after-complaint").order_by("customer_id"))
    assert [(t.title, t.priority, t.team) for t in tasks] == [
        ("回访 韩梅梅", "urgent", service_team),
        ("回访 李雷", "urgent", service_team),
    ]
    assert sorted(assignees(tasks)) == ["bob", "dave"]  # round robin, as the step says
    assert {t.assign_strategy for t in tasks} == {"round_robin"}
    assert {t.due_at for t in tasks} == {local("2026-11-02 14:00")}  # 4 working hours
    assert all(note_of(t).startswith("round robin: ") for t in tasks)
    assert Enrollment.objects.filter(rule__key="call-after-complaint").count() == 2
    assert TaskEvent.objects.filter(task__in=tasks, kind=TaskEvent.Kind.CREATED).count() == 2
    assert Reminder.objects.filter(task__in=tasks, kind=Reminder.Kind.ASSIGNED).count() == 2


def test_a_dry_run_assigns_its_tasks_and_plans_no_reminder(
    service_team: Team, bob: Any, dave: Any
) -> None:
    """A simulation's tasks are assigned as in earnest (a task may move to another team, and
    the preview counts tasks per team) but nobody is reminded of them."""
    strategy(service_team, "round_robin")
    with dry_run():
        tasks = give(service_team, a_customer(), a_customer())
    assert sorted(assignees(tasks)) == ["bob", "dave"]
    assert not Reminder.objects.filter(task__in=tasks).exists()
    # Outside one, the assignees are told.
    later = give(service_team, a_customer())
    assert Reminder.objects.filter(task__in=later, kind=Reminder.Kind.ASSIGNED).count() == 1
