"""Follow-up tasks (回访任务): where a person takes over from messages."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
    title = models.CharField(_("title"), max_length=200)
    script = models.TextField(_("script"), blank=True)
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
    source_key = models.CharField(max_length=64, null=True, blank=True)
    # Set by the engine from its clock (a virtual one in simulation), so not auto_now_add.
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

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
        ]

    def __str__(self) -> str:
        return self.title
