"""The organisation's own defaults, set by an admin on one page, and the calendar years whose
official schedule the admin has entered.

There is at most one ``OrganisationSettings`` row (pk 1). Until an admin saves the page there is
none, and the deployment's environment decides (``QUIET_HOURS``; Mon–Fri 09:00–18:00; no default
caps; no default signature), so an installation that never opens the page behaves as before.
"""

from __future__ import annotations

from datetime import time
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

SETTINGS_PK = 1


def env_quiet_hours() -> tuple[time, time]:
    """``QUIET_HOURS`` (checked at start-up to look like 21:00-08:00) as two times."""
    start, _sep, end = str(settings.HUIFANG_QUIET_HOURS).partition("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def default_quiet_start() -> time:
    return env_quiet_hours()[0]


def default_quiet_end() -> time:
    return env_quiet_hours()[1]


def default_working_days() -> list[int]:
    return [0, 1, 2, 3, 4]


def default_working_start() -> time:
    return time(9, 0)


def default_working_end() -> time:
    return time(18, 0)


def _empty_list() -> list[Any]:
    return []


class OrganisationSettings(models.Model):
    id = models.PositiveSmallIntegerField(primary_key=True, default=SETTINGS_PK, editable=False)
    # How customers know the business: named on the pages they open from a message (the
    # unsubscribe page …). Empty: the SMS signature stands in (``Organisation.display_name``).
    name = models.CharField(_("organisation name"), max_length=60, blank=True)
    quiet_start = models.TimeField(_("quiet hours start"), default=default_quiet_start)
    quiet_end = models.TimeField(_("quiet hours end"), default=default_quiet_end)
    # Monday = 0, as in huifang.accounts.working_hours.
    working_days = models.JSONField(_("working days"), default=default_working_days)
    working_start = models.TimeField(_("working day starts"), default=default_working_start)
    working_end = models.TimeField(_("working day ends"), default=default_working_end)
    # [{"channel": "sms", "max": 2, "per_days": 7}, …]: for rules that set no caps of their own.
    caps = models.JSONField(_("default frequency caps"), default=_empty_list, blank=True)
    sms_signature = models.CharField(_("default SMS signature"), max_length=20, blank=True)
    # Agents see the customers of their own team only (owned by a member, or with a task of
    # the team or given to them); supervisors those of the teams they lead.
    team_scoped_customers = models.BooleanField(
        _("staff see only their team's customers"), default=False
    )
    # Where customers reach this installation when ``BASE_URL`` is not set: an administrator
    # confirms the address the channels page was opened at (``services.base_url``).
    public_url = models.CharField(_("public address"), max_length=200, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("organisation settings")
        verbose_name_plural = _("organisation settings")

    def __str__(self) -> str:
        return str(_("Organisation settings"))


class CalendarYear(models.Model):
    """A year whose official holiday schedule (国务院办公厅 notice) has been entered, imported
    from a file or typed in by hand, for a year the bundled ``chinese-calendar`` does not know."""

    class Source(models.TextChoices):
        IMPORT = "import", _("Imported from a file")
        MANUAL = "manual", _("Entered by hand")

    year = models.PositiveSmallIntegerField(_("year"), primary_key=True)
    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    days = models.PositiveSmallIntegerField(_("days imported"), default=0)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["year"]
        verbose_name = _("calendar year")
        verbose_name_plural = _("calendar years")

    def __str__(self) -> str:
        return str(self.year)


class CalendarDay(models.Model):
    """A day the organisation's calendar decides itself, over the bundled statutory calendar.

    Marks extra holidays (a company day off) and 调休 working days, and carries the official
    schedule for years the bundled ``chinese-calendar`` data does not cover yet.
    """

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("Day off")
        WORKDAY = "workday", _("Working day")

    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    name = models.CharField(
        _("name"), max_length=100, blank=True, help_text=_("e.g. 国庆节, 春节调休, 公司年会")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()} {self.name}".strip()
