from __future__ import annotations

import hashlib
import secrets
import unicodedata
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.core.models import TimeStampedModel
from huifang.core.zones import validate_zone_name

from .working_hours import (
    default_escalation,
    default_sla_hours,
    default_working_hours,
    validate_escalation,
    validate_sla_hours,
    validate_working_hours,
)


def default_time_zone() -> str:
    return str(settings.TIME_ZONE)


def _empty_list() -> list[str]:
    return []


def _empty_dict() -> dict[str, Any]:
    return {}


class Team(TimeStampedModel):
    key = models.SlugField(_("key"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("supervisor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="supervised_teams",
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default=default_time_zone, validators=[validate_zone_name]
    )
    working_hours = models.JSONField(
        _("working hours"), default=default_working_hours, validators=[validate_working_hours]
    )
    # How follow-up tasks reach the team's agents (a key of huifang.tasks.assignment).
    assign_strategy = models.CharField(
        _("assignment strategy"), max_length=30, default="least_loaded"
    )
    # Settings of the strategy: for "field", {"field": "source", "map": {"douyin": "user:li"}}.
    assign_options = models.JSONField(_("assignment options"), default=_empty_dict, blank=True)
    # SLA in working hours by priority, for tasks whose rule step names none.
    sla_hours = models.JSONField(
        _("SLA in working hours by priority"),
        default=default_sla_hours,
        blank=True,
        validators=[validate_sla_hours],
    )
    remind_before_hours = models.DecimalField(
        _("remind before the SLA ends (working hours)"),
        max_digits=5,
        decimal_places=2,
        default=2,
    )
    # [{"after_hours": 24, "to": "supervisor", "reassign": false}, …]: working hours since a
    # task was created with nothing done on it.
    escalation = models.JSONField(
        _("escalation chain"),
        default=default_escalation,
        blank=True,
        validators=[validate_escalation],
    )
    # Where a low satisfaction score is sent to be put right (the team itself when empty).
    remediation_team = models.ForeignKey(
        "self",
        verbose_name=_("remediation team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The round-robin pointer: the last agent given a task. Read and moved under the team
    # row's lock, so concurrent assignments take turns.
    last_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class StaffProfile(TimeStampedModel):
    """Everything Huifang needs to know about a member of staff beyond the login."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("supervisor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
    )
    languages = models.JSONField(_("languages"), default=_empty_list, blank=True)
    product_categories = models.JSONField(_("product categories"), default=_empty_list, blank=True)
    regions = models.JSONField(_("regions"), default=_empty_list, blank=True)
    daily_capacity = models.PositiveIntegerField(_("daily capacity"), default=30)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default=default_time_zone, validators=[validate_zone_name]
    )
    working_hours = models.JSONField(
        _("working hours"), default=default_working_hours, validators=[validate_working_hours]
    )
    on_leave = models.BooleanField(_("on leave"), default=False)
    leave_until = models.DateField(_("on leave until"), null=True, blank=True)
    mobile = models.CharField(_("mobile"), max_length=20, blank=True)
    # Ids on the channels staff are notified on: wecom_userid, dingtalk_userid, feishu_open_id …
    contact_ids = models.JSONField(_("notification contact ids"), default=_empty_dict, blank=True)
    notify_channels = models.JSONField(_("notification channels"), default=_empty_list, blank=True)
    # Set when an administrator made the password (a new account, a reset): the person chooses
    # their own before anything else (``ChangeMadePassword``).
    must_change_password = models.BooleanField(
        _("must change password"), default=False, db_default=False
    )

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.display_name or self.user.get_full_name() or self.user.get_username()

    def clean(self) -> None:
        for field in ("languages", "product_categories", "regions", "notify_channels"):
            value = getattr(self, field)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValidationError({field: _("Enter a list of text values.")})
        if not isinstance(self.contact_ids, dict):
            raise ValidationError({"contact_ids": _("Enter an object of channel → id.")})


TOKEN_PREFIX = "hf_"  # noqa: S105 - a marker that makes leaked tokens easy to spot


def _digest(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a plain SHA-256 is enough to store them safely.
    return hashlib.sha256(raw.encode()).hexdigest()


class TokenScope(models.TextChoices):
    """What a token may do; each scope is a role in the permission table
    (``huifang.accounts.permissions``)."""

    # What each may do, object by object, is the permission table's (its page lists it).
    READ = "read", _("Read (personal details masked)")
    WRITE = "write", _("Read and write (personal details masked)")
    REVEAL = "reveal", _("Read and write, personal details in full (audited)")


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    name = models.CharField(_("name"), max_length=100)
    scope = models.CharField(
        _("scope"), max_length=10, choices=TokenScope.choices, default=TokenScope.WRITE
    )
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(
        cls,
        *,
        name: str,
        scope: str = TokenScope.WRITE,
        created_by: Any = None,
        request: Any = None,
    ) -> tuple[ApiToken, str]:
        """Create a token and return it with its secret, which is never stored or shown again.
        Recorded in the audit log."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with transaction.atomic():
            token = cls.objects.create(
                name=name,
                scope=TokenScope(scope),
                prefix=raw[: len(TOKEN_PREFIX) + 6],
                digest=_digest(raw),
                created_by=created_by,
            )
            record(
                Entry.Action.TOKEN,
                "issued",
                actor=created_by,
                request=request,
                target=token,
                details={"scope": token.scope},
            )
        return token, raw

    @classmethod
    def find(cls, raw: str) -> ApiToken | None:
        return cls.objects.filter(digest=_digest(raw)).first()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def api_scope(self) -> str:
        """The scope the permission table knows this token by (``token:<scope>``)."""
        return self.scope

    @property
    def audit_name(self) -> str:
        """How the audit log names what this token did."""
        return f"API token {self.name} ({self.prefix}…)"

    def revoke(self, *, actor: Any = None, request: Any = None) -> None:
        if self.revoked_at is None:
            with transaction.atomic():
                self.revoked_at = timezone.now()
                self.save(update_fields=["revoked_at"])
                record(Entry.Action.TOKEN, "revoked", actor=actor, request=request, target=self)

    def touch(self) -> None:
        """Record use, at most once a minute so busy integrations do not write on every call."""
        now = timezone.now()
        if self.last_used_at is None or (now - self.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


def is_site_path(value: str) -> bool:
    """Whether ``value`` is a path on this site, which a redirect can follow without leaving it.

    ``//host`` and ``/\\host`` are read by browsers as another host, and they drop tabs and
    newlines inside URLs, so ``/<tab>/host`` would become ``//host``: all refused.
    """
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return False
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value):
        return False
    return url_has_allowed_host_and_scheme(value, allowed_hosts=None)


def validate_site_path(value: str) -> None:
    if not is_site_path(value):
        raise ValidationError(
            _("Enter a path on this site, starting with a single “/”."), code="off_site"
        )


class NotificationQuerySet(models.QuerySet["Notification"]):
    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """A message to one member of staff, shown under the bell in the top bar."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    url = models.CharField(
        _("link"),
        max_length=500,
        blank=True,
        validators=[validate_site_path],
        help_text=_("A path on this site, such as /customers/42/."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            # The bell asks on every page and every 30 s: a partial index keeps that answer
            # small however many read notifications pile up.
            models.Index(
                fields=["recipient", "-created_at"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    def mark_read(self) -> None:
        """Keep the first time it was read: a second open changes nothing."""
        if self.read_at is not None:
            return
        now = timezone.now()
        Notification.objects.filter(pk=self.pk, read_at__isnull=True).update(read_at=now)
        self.read_at = now
