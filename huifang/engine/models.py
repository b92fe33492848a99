"""Engine state: enrollments in rules, durable timers, and trigger cursors.

The high-volume tables here (enrollments, due steps, segment members) and the outbox keep their
relations in Django — ``on_delete`` is applied by the ORM, and every delete in Huifang goes
through it — but have no foreign-key constraints in the database: PostgreSQL checks such a
constraint row by row at commit, locking each referenced row, which cost more than the
set-based evaluation that wrote the rows (see docs/decisions/README.md). The engine writes these
rows from SELECTs over the referenced tables and skips a customer that is gone.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Enrollment(models.Model):
    """A customer's run through one rule (回访计划), pinned to the version it started on.

    ``anchor`` names the trigger occurrence (``event:<id>``, ``date:<day>``, ``segment:<day>``,
    ``recurring:<day>``); the unique key on rule, customer and anchor means one trigger never
    enrolls a customer twice, and at most one enrollment per rule and customer is active.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        EXITED = "exited", _("Exited")
        ENDED = "ended", _("Ended")

    class Waiting(models.TextChoices):
        NOTHING = "", _("Nothing")
        SEND = "send", _("A deferred message")
        REPLY = "reply", _("A reply")
        TIME = "time", _("A wait")

    rule = models.ForeignKey(
        "rules.Rule",
        on_delete=models.CASCADE,
        related_name="enrollments",
        db_index=False,
        db_constraint=False,
    )
    version = models.ForeignKey(
        "rules.RuleVersion",
        on_delete=models.PROTECT,
        db_constraint=False,
        related_name="enrollments",
        db_index=False,  # always looked up with the rule first
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="enrollments",
        db_constraint=False,
        db_index=False,
    )
    anchor = models.CharField(_("trigger"), max_length=80)
    anchor_at = models.DateTimeField(_("triggered at"))
    event = models.ForeignKey(
        "customers.Event",
        verbose_name=_("triggering event"),
        db_constraint=False,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    step = models.CharField(_("step"), max_length=50, blank=True)
    waiting = models.CharField(
        _("waiting for"), max_length=5, choices=Waiting.choices, default="", blank=True
    )
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(_("end reason"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("enrollment")
        verbose_name_plural = _("enrollments")
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "customer", "anchor"], name="enrollment_once_per_trigger"
            ),
            models.UniqueConstraint(
                fields=["rule", "customer"],
                condition=models.Q(status="active"),
                name="enrollment_one_active",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "status"], name="enrollment_customer_idx"),
            # "The enrollments this evaluation just made" (a rule's active ones are found
            # through enrollment_one_active).
            models.Index(fields=["rule", "started_at"], name="enrollment_rule_started_idx"),
            # The rule dashboard: a rule's plans that ended in a period.
            models.Index(
                fields=["rule", "ended_at"],
                name="enrollment_rule_ended_idx",
                condition=models.Q(ended_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.customer_id}/{self.anchor}"


class DueStep(models.Model):
    """A durable timer: something to do for an enrollment at ``due_at``.

    Workers claim due rows in batches with a lease, process them and mark them done; a row whose
    lease expired (its worker died) is claimed again. ``run`` performs a step, ``timeout`` ends a
    wait for a reply, ``send`` retries a deferred message.
    """

    class Kind(models.TextChoices):
        RUN = "run", _("Run step")
        TIMEOUT = "timeout", _("Reply timeout")
        SEND = "send", _("Deferred message")

    class Status(models.TextChoices):
        DUE = "due", _("Due")
        CLAIMED = "claimed", _("Claimed")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")
        MISSED = "missed", _("Missed")
        PAUSED = "paused", _("Paused")

    enrollment = models.ForeignKey(
        Enrollment, on_delete=models.CASCADE, related_name="due_steps", db_constraint=False
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.RUN)
    step = models.CharField(_("step"), max_length=50)
    message = models.ForeignKey(
        "outbox.Message",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    due_at = models.DateTimeField(_("due at"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DUE
    )
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    claimed_by = models.CharField(_("claimed by"), max_length=64, blank=True)
    claims = models.PositiveSmallIntegerField(_("claims"), default=0)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    class Meta:
        verbose_name = _("due step")
        verbose_name_plural = _("due steps")
        indexes = [
            # Partial: the claim loop only ever looks at due or leased rows, so finished ones
            # (the vast majority after a while) cost the loop nothing.
            models.Index(
                fields=["due_at", "id"],
                name="duestep_due_idx",
                condition=models.Q(status="due"),
            ),
            models.Index(
                fields=["lease_until"],
                name="duestep_lease_idx",
                condition=models.Q(status="claimed"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.step} @ {self.due_at:%Y-%m-%d %H:%M}"


class TriggerCursor(models.Model):
    """How far the scheduled triggers of a rule (date, recurring) have been evaluated.

    Each evaluation covers the days after ``evaluated_through`` up to tomorrow, so after
    downtime the missed days are caught up in one evaluation, and a day is never evaluated twice.
    """

    rule = models.OneToOneField(
        "rules.Rule", on_delete=models.CASCADE, primary_key=True, related_name="trigger_cursor"
    )
    evaluated_through = models.DateField(_("evaluated through"))
    evaluated_at = models.DateTimeField(_("evaluated at"))
    # Event rules: the newest event a full evaluation has looked at.
    last_event_id = models.BigIntegerField(_("last event evaluated"), null=True, blank=True)

    class Meta:
        verbose_name = _("trigger cursor")
        verbose_name_plural = _("trigger cursors")

    def __str__(self) -> str:
        return f"{self.rule_id} through {self.evaluated_through}"


class SegmentMember(models.Model):
    """A customer currently inside a rule's segment; entering (a new row) enrolls them."""

    rule = models.ForeignKey(
        "rules.Rule", on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    entered_at = models.DateTimeField(_("entered at"))

    class Meta:
        verbose_name = _("segment member")
        verbose_name_plural = _("segment members")
        constraints = [
            models.UniqueConstraint(fields=["rule", "customer"], name="segment_member_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.customer_id}"
