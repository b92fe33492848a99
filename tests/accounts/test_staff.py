"""Staff in the product: an administrator adds a person (the password made for them is changed
at the first sign-in), sets role, team, capacity, skills, working hours and leave, resets a
password and switches an account off; someone away hands their open tasks on; everyone keeps
their own profile. Audited; bad input refused in the user's language with nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from huifang.accounts.models import StaffProfile, Team
from huifang.accounts.roles import Role, roles_of
from huifang.audit.models import Entry
from huifang.customers.models import Customer
from huifang.tasks.models import Task
from huifang.tasks.services import create_tasks
from tests.conftest import PASSWORD, make_staff

pytestmark = pytest.mark.django_db


def signed_in(username: str, password: str) -> Client | None:
    """A client signed in through the sign-in page (as people do), or None when refused."""
    client = Client()
    answer = client.post("/login/", {"username": username, "password": password})
    return client if answer.status_code == 302 else None


def person(**changes: Any) -> dict[str, Any]:
    data = {
        "username": "lisi",
        "display_name": "李四",
        "email": "lisi@example.com",
        "mobile": "13800138000",
        "role": "agent",
        "team": "",
        "daily_capacity": "25",
        "languages": "普通话, 粤语",
        "product_categories": "家电",
        "regions": "广东",
        "time_zone": "Asia/Shanghai",
        "work_days": ["0", "1", "2", "3", "4"],
        "work_start": "09:00",
        "work_end": "18:00",
        "is_active": "on",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_an_admin_adds_a_person_who_chooses_a_password_first(
    alice_client: Client, service_team: Team
) -> None:
    page = alice_client.post("/settings/staff/new/", person(team=service_team.pk))
    assert page.status_code == 200
    html = page.content.decode()
    password = html.split('id="the-password">')[1].split("<")[0]
    assert len(password) >= 12
    user = get_user_model().objects.get(username="lisi")
    profile = user.staff_profile
    assert roles_of(user) == {"agent"} and profile.team == service_team
    assert (profile.daily_capacity, profile.languages) == (25, ["普通话", "粤语"])
    assert profile.working_hours == {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}
    assert profile.must_change_password
    assert Entry.objects.filter(action="staff", verb="created").count() == 1
    assert password not in str(list(Entry.objects.values_list("details", flat=True)))

    newcomer = signed_in("lisi", password)
    assert newcomer is not None
    first = newcomer.get("/tasks/")
    assert first.status_code == 302 and first["Location"] == "/settings/password/"
    newcomer.post(
        "/settings/password/",
        {
            "old_password": password,
            "new_password1": "a new password of my own",
            "new_password2": "a new password of my own",
        },
    )
    assert not StaffProfile.objects.get(user=user).must_change_password
    assert newcomer.get("/tasks/").status_code == 200


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"username": "alice"}, "已有人使用"),
        ({"username": "李 四"}, "用户名"),
        ({"work_end": "08:00"}, "下班时间必须晚于上班时间"),
        ({"work_days": []}, "必填"),
        ({"time_zone": "Mars/Base"}, "时区"),
        ({"daily_capacity": "-1"}, "0"),
    ],
)
def test_bad_input_adds_nobody(alice_client: Client, changes: dict[str, Any], says: str) -> None:
    before = get_user_model().objects.count()
    page = alice_client.post("/settings/staff/new/", person(**changes))
    assert page.status_code == 400
    assert says in page.content.decode()
    assert get_user_model().objects.count() == before


def test_an_admin_changes_role_team_leave_and_hours(
    alice_client: Client, bob: Any, service_team: Team
) -> None:
    other = Team.objects.create(key="vip", name="VIP 组")
    page = alice_client.post(
        f"/settings/staff/{bob.pk}/",
        person(
            username=None,
            role="supervisor",
            team=other.pk,
            on_leave="on",
            leave_until="2026-12-20",
            work_days=["0", "2", "4"],
            work_start="10:00",
            work_end="16:00",
        ),
    )
    assert page.status_code == 302
    bob = get_user_model().objects.get(pk=bob.pk)
    profile = bob.staff_profile
    assert roles_of(bob) == {"supervisor"} and profile.team == other
    assert profile.on_leave and str(profile.leave_until) == "2026-12-20"
    assert profile.working_hours == {"days": [0, 2, 4], "start": "10:00", "end": "16:00"}
    entry = Entry.objects.get(action="staff", verb="changed")
    assert {"role", "team", "on_leave", "work_days"} <= set(entry.details["fields"])


def test_an_admin_cannot_switch_themselves_off(alice_client: Client, alice: Any) -> None:
    page = alice_client.post(
        f"/settings/staff/{alice.pk}/", person(username=None, role="admin", is_active=None)
    )
    assert page.status_code == 400
    assert get_user_model().objects.get(pk=alice.pk).is_active


def test_a_password_reset_ends_the_old_one(alice_client: Client, bob: Any) -> None:
    bobs = signed_in("bob", PASSWORD)
    assert bobs is not None
    page = alice_client.post(f"/settings/staff/{bob.pk}/password/")
    password = page.content.decode().split('id="the-password">')[1].split("<")[0]
    assert bobs.get("/tasks/").status_code == 302  # the old session ended
    assert signed_in("bob", PASSWORD) is None
    assert signed_in("bob", password) is not None
    assert StaffProfile.objects.get(user=bob).must_change_password
    assert Entry.objects.filter(action="staff", verb="password reset").count() == 1


def test_only_administrators_manage_staff(carol_client: Client, bob: Any) -> None:
    for url in ("/settings/staff/", "/settings/staff/new/", f"/settings/staff/{bob.pk}/"):
        assert carol_client.get(url).status_code == 403
    assert carol_client.post(f"/settings/staff/{bob.pk}/password/").status_code == 403


def test_someone_on_leave_hands_their_tasks_on(
    carol_client: Client, carol: Any, bob: Any, service_team: Team
) -> None:
    erin = make_staff("erin", Role.AGENT, team=service_team)
    customers = [Customer.objects.create(name=f"客户{i}") for i in range(3)]
    create_tasks(customers, title="回访", actor=carol, team=service_team, assignee=bob)
    StaffProfile.objects.filter(user=bob).update(on_leave=True)
    service_team.supervisor = carol
    service_team.save()
    board = carol_client.get(f"/tasks/board/?team={service_team.pk}").content.decode()
    assert 'data-hand-on="bob"' in board
    carol_client.post(f"/tasks/board/hand-on/{bob.pk}/")
    assert set(Task.objects.values_list("assignee", flat=True)) == {erin.pk}
    assert not Task.objects.filter(assignee=bob).exists()


def test_an_agent_cannot_hand_on_a_colleague_s_tasks(bob_client: Client, carol: Any) -> None:
    assert bob_client.post(f"/tasks/board/hand-on/{carol.pk}/").status_code == 403


def test_everyone_keeps_their_own_profile(bob_client: Client, bob: Any) -> None:
    page = bob_client.post(
        "/settings/profile/",
        {
            "display_name": "鲍勃",
            "email": "",
            "mobile": "13900139000",
            "time_zone": "Asia/Shanghai",
            "notify_channels": ["in_app", "email"],
            "contact_wecom": "bob-wx",
        },
    )
    assert page.status_code == 400 and "邮件" in page.content.decode()
    bob_client.post(
        "/settings/profile/",
        {
            "display_name": "鲍勃",
            "email": "bob@example.cn",
            "mobile": "13900139000",
            "time_zone": "Asia/Shanghai",
            "notify_channels": ["in_app", "wecom"],
            "contact_wecom": "bob-wx",
        },
    )
    profile = StaffProfile.objects.get(user=bob)
    assert (profile.display_name, profile.notify_channels) == ("鲍勃", ["in_app", "wecom"])
    assert profile.contact_ids == {"wecom_userid": "bob-wx"}
    assert get_user_model().objects.get(pk=bob.pk).email == "bob@example.cn"
