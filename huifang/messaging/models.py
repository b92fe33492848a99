"""The outbox: one ``Message`` row per customer-facing send, whatever its fate.

A rule's send step writes a message here and the contact-pressure gate decides, at the moment
it would be handed to its channel, whether it goes now, waits (deferred, with the reason and
until when) or never goes (dropped, with the reason). Every decision is kept in ``decisions``
so the customer's timeline can say why the 22:30 message went out at 08:00.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from huifang.customers.models import Channel


def _empty_list() -> list[Any]:
    return []


def _reference(to: str, verbose_name: Any, related_name: str = "+") -> Any:
    """An optional link kept for the record: no database constraint, cleared if it goes."""
    return models.ForeignKey(
        to,
        verbose_name=verbose_name,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name=related_name,
    )


class Reason(models.TextChoices):
    """Why the gate held a message back or dropped it."""

    DO_NOT_CONTACT = "do_not_contact", _("Customer is on the do-not-contact list")
    NO_CONSENT = "no_consent", _("No consent for this channel")
    NO_ADDRESS = "no_address", _("No address for this channel")
    QUIET_HOURS = "quiet_hours", _("Quiet hours in the customer's time zone")
    DAY_OFF = "day_off", _("Not a working day")
    CAP = "cap", _("Frequency cap reached")
    MAX_ATTEMPTS = "max_attempts", _("Too many attempts")
    MISSED = "missed", _("Too late after downtime (misfire grace passed)")
    ENDED = "ended", _("The follow-up plan ended")
    UNSUBSCRIBED = "unsubscribed", _("The customer unsubscribed")
    NO_TEMPLATE = "no_template", _("No template for this channel")
    RATE_LIMIT = "rate_limit", _("The provider's rate limit")
    NO_SURVEY = "no_survey", _("No questionnaire for the questionnaire link")


class MessageQuerySet(models.QuerySet["Message"]):
    def update(self, **kwargs: Any) -> int:
        """Every update says when it happened (``Message.changed_at``), unless it says itself
        (the dispatcher's clock)."""
        kwargs.setdefault("changed_at", timezone.now())
        return super().update(**kwargs)


class Message(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        UNCERTAIN = "uncertain", _("Uncertain")
        DEFERRED = "deferred", _("Deferred")
        DROPPED = "dropped", _("Dropped")
        CANCELLED = "cancelled", _("Cancelled")

    # Released by the gate and counted against frequency caps: gone, going or maybe gone.
    COUNTED = ("queued", "sending", "sent", "delivered", "uncertain")
    # What the dispatcher's last look counts against caps: gone or going. The queue itself is
    # what it arbitrates, so queued messages count only once they are let through.
    GONE = ("sending", "sent", "delivered", "uncertain")

    # Staff messages (robots, in-app) have no customer: they name their provider and ``to``.
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
        db_constraint=False,
        db_index=False,  # message_customer_idx starts with the customer
    )
    enrollment = models.ForeignKey(
        "engine.Enrollment",
        null=True,
        blank=True,
        db_constraint=False,
        on_delete=models.SET_NULL,
        related_name="messages",
    )
    rule = models.ForeignKey(
        "rules.Rule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    step = models.CharField(_("step"), max_length=50, blank=True)
    # The channel it goes out on once the gate has chosen one of ``channels`` (the fallbacks).
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, blank=True)
    channels = models.JSONField(_("channels"), default=_empty_list)
    template = models.CharField(_("template"), max_length=100)
    transactional = models.BooleanField(_("transactional"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, blank=True)
    planned_at = models.DateTimeField(_("planned at"))
    deferred_until = models.DateTimeField(_("deferred until"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # Times the gate held it (quiet hours, caps …); ``policy.max_attempts`` bounds this.
    holds = models.PositiveSmallIntegerField(_("holds"), default=0)
    decisions = models.JSONField(_("gate decisions"), default=_empty_list)
    # Released by the gate: counts against caps from then on; ready to send from ``ready_at``
    # (later for a retry after a transient error, or a provider's rate limit).
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    ready_at = models.DateTimeField(_("ready at"), null=True, blank=True)
    # Hand-offs to the provider, each one kept as an ``Attempt``.
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    claimed_by = models.CharField(_("claimed by"), max_length=64, blank=True)
    # ``provider.messages``: the channels page counts them without importing messaging.
    provider = _reference("integrations.Provider", _("provider"), related_name="messages")
    to = models.CharField(_("to"), max_length=200, blank=True)  # staff messages only
    transport = models.CharField(_("transport"), max_length=30, blank=True)
    provider_ref = models.CharField(_("provider message id"), max_length=100, blank=True)
    template_version = _reference("TemplateVersion", _("template version"))
    # The questionnaire whose personal link the message carries (a rule step's ``survey``),
    # pinned to the version current when the message was made: results count links sent.
    survey_version = models.ForeignKey(
        "surveys.SurveyVersion",
        verbose_name=_("questionnaire version"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        db_index=False,  # message_survey_idx: only the messages that carry a questionnaire
        related_name="+",
    )
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("body"), blank=True)
    # The URLs the rendered text links to, in order; the short links in the text point here.
    links = models.JSONField(_("links"), default=_empty_list)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    # One message per due step: a step processed again can never write a second message.
    source_key = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))
    # When the row last changed after it was written (the writer's clock; NULL until then):
    # every update sets it (``MessageQuerySet.update``, ``save``, and the dispatcher's own
    # statements), so the report rollups can find the days a status change, a hold or a
    # receipt dated in the past moved, however old those days are (analytics/rollup.py).
    changed_at = models.DateTimeField(_("changed at"), null=True, blank=True, editable=False)

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(
                fields=["source_key"],
                condition=models.Q(source_key__isnull=False),
                name="message_source_key_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "created_at"], name="message_customer_idx"),
            # Frequency caps count a customer's recent messages, each from when it went (or
            # was released, until it goes): the gate's range scan is on this very expression.
            models.Index(
                models.F("customer"),
                Coalesce("sent_at", "queued_at"),
                name="message_counted_idx",
                condition=models.Q(queued_at__isnull=False),
            ),
            # The dispatcher's queue, and its expired leases.
            models.Index(
                fields=["ready_at"], name="message_ready_idx", condition=models.Q(status="queued")
            ),
            models.Index(
                fields=["lease_until"],
                name="message_lease_idx",
                condition=models.Q(status="sending"),
            ),
            models.Index(
                fields=["provider_ref"],
                name="message_provider_ref_idx",
                condition=~models.Q(provider_ref=""),
            ),
            # The rule dashboard: a rule's messages sent, delivered, and ever held or dropped
            # (holds counts the engine's holds; a drop or the dispatcher's hold leaves a
            # reason), each in a period, read from the period's entries alone.
            models.Index(
                fields=["rule", "sent_at"],
                name="message_rule_sent_idx",
                condition=models.Q(sent_at__isnull=False),
            ),
            models.Index(
                fields=["rule", "delivered_at"],
                name="message_rule_delivered_idx",
                condition=models.Q(delivered_at__isnull=False),
            ),
            # A questionnaire's results: the links sent, by when they went.
            models.Index(
                fields=["survey_version", "sent_at"],
                name="message_survey_idx",
                condition=models.Q(survey_version__isnull=False),
            ),
            models.Index(
                fields=["rule", "created_at"],
                name="message_rule_held_idx",
                condition=models.Q(holds__gt=0) | models.Q(reason__gt=""),
            ),
            # The analytics rollups (analytics/rollup.py) redo a day at a time, each count
            # selected by its own timestamp falling within the day: one index per timestamp,
            # so a day reads its own rows instead of the whole outbox (bench/analytics.py: a
            # rebuild of a year of 10 M messages). Partial where the count is of a few rows.
            # B-trees on both databases, though each costs every send (a status change is a
            # non-HOT update, which inserts into every index): measured with bench/dispatch.py
            # (docs/analytics.md "Speed"). BRIN indexes of the same columns cost nothing to
            # keep but rely on rows lying in time order, and PostgreSQL puts a new row in any
            # page with room: on the kept 10 M data set, after a few minutes of upkeep traffic
            # had filled the space freed in old pages, a day's BRIN scan read 36 % of the
            # outbox (6.3 s a day instead of 0.8 s), and the worker's refresh of today would
            # read it every minute. No one of them serves another's count (each timestamp
            # can lag the one before by days: a hold, a schedule, a late receipt).
            models.Index(fields=["created_at"], name="message_created_day_idx"),
            models.Index(
                fields=["queued_at"],
                name="message_queued_day_idx",
                condition=models.Q(queued_at__isnull=False),
            ),
            models.Index(
                fields=["sent_at"],
                name="message_sent_day_idx",
                condition=models.Q(sent_at__isnull=False),
            ),
            models.Index(
                fields=["delivered_at"],
                name="message_delivered_day_idx",
                condition=models.Q(delivered_at__isnull=False),
            ),
            # Drops and holds count on planned_at; failures on sent_at, else created_at.
            models.Index(
                fields=["planned_at"],
                name="message_planned_day_idx",
                condition=models.Q(status="dropped") | models.Q(holds__gt=0),
            ),
            models.Index(
                Coalesce("sent_at", "created_at"),
                name="message_failed_day_idx",
                condition=models.Q(status="failed"),
            ),
            # The minute refresh of the rollups: the messages changed since its last run.
            models.Index(
                fields=["changed_at"],
                name="message_changed_idx",
                condition=models.Q(changed_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        to = self.customer_id or self.to
        return f"{self.channel or '/'.join(self.channels)} {self.template} → {to}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            self.changed_at = timezone.now()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "changed_at"}
        super().save(*args, **kwargs)

    @property
    def reason_label(self) -> str:
        return str(Reason(self.reason).label) if self.reason else ""


class MessageTemplate(models.Model):
    """The text a send step names (``send: {channel: sms, template: purchase-3d}``), one per
    key and channel; its content lives in immutable versions, the current one is used."""

    key = models.SlugField(_("key"), max_length=100)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    name = models.CharField(_("name"), max_length=200)
    current_version = models.ForeignKey(
        "TemplateVersion",
        verbose_name=_("current version"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["key", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["key", "channel"], name="template_key_channel")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key} · {self.get_channel_display()})"


class Asks(models.TextChoices):
    """The score a template asks customers to reply with; empty: none."""

    NONE = "", _("No score (replies stay replies)")
    CSAT = "csat", _("Satisfaction, 1–5 (CSAT)")
    NPS = "nps", _("Likelihood to recommend, 0–10 (NPS)")
    CES = "ces", _("Effort, 1–7 (CES)")


class TemplateVersion(models.Model):
    """One saved content of a template; never changed afterwards (messages point at it)."""

    template = models.ForeignKey(MessageTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("number"))
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("body"))
    sms_signature = models.CharField(_("SMS signature"), max_length=20, blank=True)
    provider_template_code = models.CharField(
        _("provider template code"), max_length=64, blank=True
    )
    # Where {{回访链接}} leads (through a short link made for each message).
    followup_url = models.URLField(_("follow-up link target"), max_length=500, blank=True)
    # The score the message asks for ("reply 1–5"): replies to it that are clearly one score
    # are recorded as survey answers (``inbound.record_reply``), anything else stays a reply.
    asks = models.CharField(
        _("asks for a score"),
        max_length=4,
        blank=True,
        choices=Asks.choices,
        help_text=_(
            "Replies to this message are read as a score: a reply that is clearly one score "
            "(5, ５, 五, 满意 …) is recorded as a survey answer, anything else stays a reply."
        ),
    )
    comment = models.CharField(_("comment"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("template version")
        verbose_name_plural = _("template versions")
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="template_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.template.key} v{self.number}"


class Attempt(models.Model):
    """One hand-off of a message to its provider, and what came of it."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("Accepted")
        TRANSIENT = "transient", _("Failed, will retry")
        PERMANENT = "permanent", _("Failed")
        UNCERTAIN = "uncertain", _("No answer recorded (worker stopped)")

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="attempt_log", db_constraint=False
    )
    number = models.PositiveSmallIntegerField(_("attempt"))
    provider = _reference("integrations.Provider", _("provider"))
    transport = models.CharField(_("transport"), max_length=30, blank=True)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    code = models.CharField(_("code"), max_length=64, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    answer = models.TextField(_("provider's answer"), blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["message", "number"]
        indexes = [
            # Rate limits count a provider's hand-offs in the last minute.
            models.Index(fields=["provider", "started_at"], name="attempt_provider_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} #{self.number}: {self.outcome}"


class Click(models.Model):
    """A customer opened a link in a message (through its short link)."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="clicks", db_constraint=False
    )
    index = models.PositiveSmallIntegerField(_("link"))
    url = models.URLField(_("URL"), max_length=2000)
    clicked_at = models.DateTimeField(_("clicked at"))
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("click")
        verbose_name_plural = _("clicks")
        ordering = ["-clicked_at"]
        # The analytics rollups: a day's first clicks (analytics/rollup.py).
        indexes = [models.Index(fields=["clicked_at"], name="click_day_idx")]

    def __str__(self) -> str:
        return f"{self.message_id}[{self.index}] {self.clicked_at:%Y-%m-%d %H:%M}"
