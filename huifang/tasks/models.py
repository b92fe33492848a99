"""Follow-up tasks (回访任务): where a person takes over from messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TaskQuerySet(models.QuerySet["Task"]):
    def update(self, **kwargs: Any) -> int:
        """Every update says when it happened, as ``save`` does (``auto_now``): the report
        rollups redo the days of the tasks saved since their last run (a reassignment moves
        a task's team and agent on the day it was opened)."""
        kwargs.setdefault("updated_at", timezone.now())
        return super().update(**kwargs)


class Task(models.Model):
    class Priority(models.TextChoices):
        LOW = "low", _("Low")
        NORMAL = "normal", _("Normal")
        HIGH = "high", _("High")
        URGENT = "urgent", _("Urgent")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        IN_PROGRESS = "in_progress", _("In progress")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    class Kind(models.TextChoices):
        FOLLOW_UP = "follow_up", _("Follow-up")
        REMEDIATION = "remediation", _("Remediation")  # put right what a low score said
        REVISIT = "revisit", _("Re-visit")  # ask again once it is put right, or as asked

    class Outcome(models.TextChoices):
        REACHED = "reached", _("Reached")
        NOT_REACHED = "not_reached", _("Not reached")
        CALL_BACK = "call_back", _("Call back at …")
        WRONG_NUMBER = "wrong_number", _("Wrong number")
        REFUSED = "refused", _("Refused further contact")

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="tasks",
        db_index=False,  # task_customer_idx starts with the customer
    )
    enrollment = models.ForeignKey(
        "engine.Enrollment", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    rule = models.ForeignKey(
        "rules.Rule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    step = models.CharField(_("step"), max_length=50, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.FOLLOW_UP)
    # The task whose outcome opened this one (a low score → remediation → re-visit).
    parent = models.ForeignKey(
        "self",
        verbose_name=_("opened by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
    )
    team = models.ForeignKey(
        "accounts.Team",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
        db_index=False,  # task_team_idx starts with the team
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    title = models.CharField(_("title"), max_length=200)
    # Why the customer is called, in words, where no rule's trigger says it: the person who
    # opened the task by hand, an import or the demo wrote it (``why.py`` says the rest).
    reason = models.CharField(_("reason"), max_length=300, blank=True, db_default="")
    script = models.TextField(_("script"), blank=True)
    # The questionnaire the agent fills in with the customer during the call (channel phone).
    survey_version = models.ForeignKey(
        "surveys.SurveyVersion",
        verbose_name=_("questionnaire"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    priority = models.CharField(
        _("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.OPEN
    )
    due_at = models.DateTimeField(_("SLA due at"), null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
        db_index=False,  # task_assignee_idx starts with the assignee
    )
    assign_strategy = models.CharField(_("assignment strategy"), max_length=30, blank=True)
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    overdue_at = models.DateTimeField(_("overdue since"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    outcome = models.CharField(_("outcome"), max_length=12, choices=Outcome.choices, blank=True)
    score = models.PositiveSmallIntegerField(_("satisfaction score"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    source_key = models.CharField(max_length=64, null=True, blank=True)
    # Set by the engine from its clock (a virtual one in simulation), so not auto_now_add.
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        constraints = [
            models.UniqueConstraint(
                fields=["source_key"],
                condition=models.Q(source_key__isnull=False),
                name="task_source_key_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "created_at"], name="task_customer_idx"),
            models.Index(fields=["assignee", "status", "due_at"], name="task_assignee_idx"),
            # "Done" in my follow-ups, and done today / on time on the board.
            models.Index(
                fields=["assignee", "closed_at"],
                condition=models.Q(status="done"),
                name="task_assignee_done_idx",
            ),
            models.Index(fields=["team", "status", "due_at"], name="task_team_idx"),
            # An agent's open queue by deadline: the "overdue / today / upcoming" tabs read
            # their first rows straight from it (bench/workspace.py: 48 ms → 1 ms).
            models.Index(
                fields=["assignee", "due_at", "id"],
                condition=models.Q(status__in=["open", "in_progress"]),
                name="task_assignee_open_idx",
            ),
            # The rule dashboard: a rule's tasks done in a period, and its open (and overdue)
            # ones now — few whatever the history, read from their own index. (Through the
            # rule's index SQLite read every task of the rule: 240 ms warm, 3.9 s cold at
            # 500,000 tasks; bench/analytics.py.)
            models.Index(
                fields=["rule", "closed_at"],
                condition=models.Q(status="done"),
                name="task_rule_done_idx",
            ),
            models.Index(
                fields=["rule", "due_at"],
                condition=models.Q(status__in=["open", "in_progress"]),
                name="task_rule_open_idx",
            ),
            # The analytics rollups redo a day at a time (analytics/rollup.py): tasks opened
            # on the day, tasks closed on it, and each minute the tasks saved since the last
            # refresh — each read from its own index instead of the whole table.
            models.Index(fields=["created_at"], name="task_created_day_idx"),
            models.Index(
                fields=["closed_at"],
                name="task_closed_day_idx",
                condition=models.Q(status__in=["done", "cancelled"]),
            ),
            models.Index(fields=["updated_at"], name="task_updated_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_closed(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.CANCELLED)

    def is_overdue(self, now: datetime) -> bool:
        return not self.is_closed and self.due_at is not None and self.due_at < now


class TaskEvent(models.Model):
    """One line of a task's history: created, assigned, reassigned with a reason, an outcome,
    a reminder, an escalation. Never edited."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Task opened")
        ASSIGNED = "assigned", _("Assigned")
        REASSIGNED = "reassigned", _("Reassigned")
        OUTCOME = "outcome", _("Outcome recorded")
        RESCHEDULED = "rescheduled", _("Rescheduled")
        REMINDED = "reminded", _("Reminder sent")
        OVERDUE = "overdue", _("Overdue")
        ESCALATED = "escalated", _("Escalated")
        CANCELLED = "cancelled", _("Cancelled")
        PHONE_REVEALED = "phone_revealed", _("Phone number shown")
        SURVEY = "survey", _("Questionnaire answered on the phone")
        UNDONE = "undone", _("Outcome undone")

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    at = models.DateTimeField(_("at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("task event")
        verbose_name_plural = _("task events")
        indexes = [models.Index(fields=["task", "at"], name="taskevent_task_idx")]

    def __str__(self) -> str:
        return f"{self.task_id} {self.kind}"


class Reminder(models.Model):
    """A durable timer for a task: remind the assignee, flag it overdue, escalate a level.

    Rows in the database (DESIGN.md: never broker ETAs), claimed by the worker's loop; each
    checks at firing time that it still applies (the task may be done, or have moved on).
    """

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", _("New task")
        DUE_SOON = "due_soon", _("SLA ends soon")
        OVERDUE = "overdue", _("Overdue")
        CALL_BACK = "call_back", _("Call back now")
        ESCALATE = "escalate", _("Escalation")

    class Status(models.TextChoices):
        DUE = "due", _("Due")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("No longer needed")

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    level = models.PositiveSmallIntegerField(default=0)  # the escalation level, from 1
    due_at = models.DateTimeField(_("due at"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.DUE)
    # Whom it was for when planned; a reassigned task's old reminders are skipped.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("task reminder")
        verbose_name_plural = _("task reminders")
        indexes = [
            models.Index(
                fields=["due_at"], condition=models.Q(status="due"), name="reminder_due_idx"
            ),
            models.Index(fields=["task", "kind"], name="reminder_task_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} {self.kind} {self.due_at:%Y-%m-%d %H:%M}"
