"""The staff pages: the list and a person's settings for administrators (``staff.manage``),
one's own profile for everyone."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from .assignment import strategy_choices
from .models import StaffProfile, Team
from .permissions import requires
from .roles import Role
from .staff import (
    NewStaffForm,
    OwnProfileForm,
    StaffForm,
    TeamForm,
    all_staff,
    create_staff,
    open_counts,
    reset_password,
    role_of,
    update_staff,
)


@requires("staff", "manage")
def staff_list(request: HttpRequest) -> HttpResponse:
    people = list(all_staff())
    counts = open_counts([p.pk for p in people])
    roles = dict(Role.choices)
    team_form = TeamForm(request.POST or None)
    if request.method == "POST" and team_form.is_valid():
        team = team_form.save()
        messages.success(request, _("The team “%(name)s” is added.") % {"name": team.name})
        return redirect("accounts:staff")
    rows = [
        {
            "user": p,
            "profile": p.staff_profile,
            "role": roles.get(role_of(p), "—"),
            "open": counts.get(p.pk, 0),
        }
        for p in people
    ]
    teams = Team.objects.annotate(
        people=Count("members", filter=Q(members__user__is_active=True))
    ).select_related("supervisor__staff_profile")
    labels = dict(strategy_choices())
    listed = list(teams.order_by("name"))
    for team in listed:
        team.strategy_label = labels.get(team.assign_strategy, team.assign_strategy)  # type: ignore[attr-defined]
    context = {"rows": rows, "team_form": team_form, "teams": listed}
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/staff_list.html", context, status=status)


@never_cache  # the page shows a password once
@requires("staff", "manage")
def staff_new(request: HttpRequest) -> HttpResponse:
    form = NewStaffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user, password = create_staff(form.cleaned_data, actor=request.user, request=request)
        return render(
            request,
            "accounts/staff_password.html",
            {"person": user, "password": password, "new": True},
        )
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/staff_form.html", {"form": form, "new": True}, status=status)


@requires("staff", "manage")
def staff_edit(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(get_user_model().objects.select_related("staff_profile"), pk=pk)
    if not StaffProfile.objects.filter(user=person).exists():
        StaffProfile.objects.create(user=person)
        person.refresh_from_db()
    form = StaffForm(request.POST or None, initial=StaffForm.initial_for(person))
    if request.method == "POST" and form.is_valid():
        if person.pk == request.user.pk and (
            not form.cleaned_data["is_active"] or form.cleaned_data["role"] != Role.ADMIN
        ):
            form.add_error(None, _("You cannot switch yourself off or give up your own role."))
        else:
            changed = update_staff(person, form.cleaned_data, actor=request.user, request=request)
            messages.success(request, _("Saved.") if changed else _("Nothing changed."))
            return redirect("accounts:staff_edit", pk=person.pk)
    context: dict[str, Any] = {
        "form": form,
        "person": person,
        "open": open_counts([person.pk]).get(person.pk, 0),
        "paused": person.staff_profile.on_leave or not person.is_active,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/staff_form.html", context, status=status)


@never_cache
@requires("staff", "manage")
@require_POST
def staff_password(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(get_user_model(), pk=pk, staff_profile__isnull=False)
    password = reset_password(person, actor=request.user, request=request)
    return render(request, "accounts/staff_password.html", {"person": person, "password": password})


@requires("account", "own")
def profile(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if not hasattr(user, "staff_profile"):
        StaffProfile.objects.create(user=user)
        user.refresh_from_db()
    form = OwnProfileForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        form.save(request)
        messages.success(request, _("Your profile is saved."))
        return redirect("accounts:profile")
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/profile.html", {"form": form}, status=status)
