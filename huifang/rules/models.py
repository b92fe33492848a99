from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from huifang.core.models import TimeStampedModel, Version


class Rule(TimeStampedModel):
    """A follow-up rule (回访策略): a key, a status, and the version that is running."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ARCHIVED = "archived", _("Archived")

    key = models.SlugField(_("key"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=100)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    current_version = models.ForeignKey(
        "RuleVersion",
        verbose_name=_("current version"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The builder's working copy: whatever was last typed, valid or not, so that nothing is
    # lost between steps. Saving it checks it completely and writes a new version.
    draft = models.JSONField(_("working copy"), null=True, blank=True)
    draft_saved_at = models.DateTimeField(_("working copy saved at"), null=True, blank=True)
    draft_saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("working copy saved by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    origin = models.CharField(
        _("copied from"), max_length=80, blank=True, help_text=_("the ready strategy it started as")
    )

    class Meta:
        ordering = ["key"]
        verbose_name = _("rule")
        verbose_name_plural = _("rules")

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    def latest_version(self) -> RuleVersion | None:
        return self.versions.order_by("-number").first()


class RuleVersion(Version):
    """One saved state of a rule. Never changed once written: enrollments are pinned to it."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="versions")
    comment = models.CharField(_("comment"), max_length=200, blank=True)

    class Meta(Version.Meta):
        ordering = ["rule", "-number"]
        verbose_name = _("rule version")
        verbose_name_plural = _("rule versions")
        constraints = [
            models.UniqueConstraint(fields=["rule", "number"], name="rule_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rule.key} v{self.number}"


class RuleChange(models.Model):
    """The audit trail of a rule: who saved, activated, rolled back, paused or archived it,
    when, and why."""

    class Action(models.TextChoices):
        CREATED = "created", _("Created")
        SAVED = "saved", _("Saved a version")
        ACTIVATED = "activated", _("Activated")
        ROLLED_BACK = "rolled_back", _("Rolled back")
        PAUSED = "paused", _("Paused")
        RESUMED = "resumed", _("Resumed")
        ARCHIVED = "archived", _("Archived")
        SWITCHED = "switched", _("Strategy set switched")

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="changes")
    version = models.ForeignKey(
        RuleVersion,
        verbose_name=_("version"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=12, choices=Action.choices)
    comment = models.CharField(_("comment"), max_length=200, blank=True)
    in_flight = models.CharField(_("customers part-way"), max_length=8, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("rule change")
        verbose_name_plural = _("rule changes")

    def __str__(self) -> str:
        return f"{self.rule.key}: {self.action}"


class StrategySet(TimeStampedModel):
    """A named set of rules (策略组: 日常, 618 大促, 双11 …) that is switched on as a whole:
    its rules run and every other active rule is paused. At most one set is the active one."""

    key = models.SlugField(_("key"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True, max_length=2000)
    rules = models.ManyToManyField(
        Rule, verbose_name=_("rules"), related_name="strategy_sets", blank=True
    )
    is_active = models.BooleanField(_("active"), default=False)
    activated_at = models.DateTimeField(_("switched on at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["name", "key"]
        verbose_name = _("strategy set")
        verbose_name_plural = _("strategy sets")
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=models.Q(is_active=True),
                name="strategy_set_one_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class ScheduledSwitch(models.Model):
    """A switch to a strategy set at a moment (UTC), done by the periodic scheduler."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Failed")

    strategy_set = models.ForeignKey(
        StrategySet,
        verbose_name=_("strategy set"),
        on_delete=models.CASCADE,
        related_name="switches",
    )
    at = models.DateTimeField(_("at"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    in_flight = models.CharField(_("customers part-way"), max_length=8, default="keep")
    comment = models.CharField(_("comment"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("scheduled by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("cancelled by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # After downtime several switches may be due at once: only the latest runs.
    superseded_by = models.ForeignKey(
        "self",
        verbose_name=_("superseded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("scheduled switch")
        verbose_name_plural = _("scheduled switches")
        indexes = [models.Index(fields=["status", "at"], name="scheduled_switch_due")]

    def __str__(self) -> str:
        return f"{self.strategy_set.key} @ {self.at.isoformat()}"
