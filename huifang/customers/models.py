from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Right
from django.utils.translation import gettext_lazy as _

from huifang.core.models import TimeStampedModel
from huifang.core.scores import CES, CSAT, NPS
from huifang.core.zones import validate_zone_name

from .phones import format_phone, mask_phone, normalize_phone


def default_time_zone() -> str:
    return str(settings.TIME_ZONE)


def _empty_dict() -> dict[str, Any]:
    return {}


class Channel(models.TextChoices):
    """Ways of reaching a customer; consent and do-not-contact are kept per channel."""

    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    WECOM = "wecom", _("WeCom")
    PHONE = "phone", _("Phone call")


class Tier(models.TextChoices):
    VIP = "vip", _("VIP")
    REGULAR = "regular", _("Regular")
    POTENTIAL = "potential", _("Potential")
    DORMANT = "dormant", _("Dormant")


class LifecycleStage(models.TextChoices):
    INQUIRY = "inquiry", _("Inquiry")
    POST_PURCHASE = "post_purchase", _("Post-purchase")
    IN_SERVICE = "in_service", _("In service")
    DORMANT = "dormant", _("Dormant")


class Language(models.TextChoices):
    ZH_HANS = "zh-hans", "简体中文"
    EN = "en", "English"


tag_name_validator = RegexValidator(
    r"^[^,\s][^,]{0,49}$", _("A tag is 1–50 characters and has no comma.")
)


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True, validators=[tag_name_validator])
    color = models.CharField(_("colour"), max_length=20, default="secondary")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class Customer(TimeStampedModel):
    external_id = models.CharField(
        _("external id"),
        max_length=128,
        null=True,
        blank=True,
        help_text=_("The customer's id in your order, CRM or ticket system."),
    )
    name = models.CharField(_("name"), max_length=100)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    # The phone's last four digits (尾号), kept by the database, for finding a customer by
    # them through an index (``search.search_q``).
    phone_tail = models.GeneratedField(
        expression=Right("phone", 4),
        output_field=models.CharField(max_length=4),
        db_persist=True,
        verbose_name=_("last four digits of the phone"),
    )
    email = models.EmailField(_("e-mail"), blank=True)
    wecom_external_userid = models.CharField(_("WeCom external user id"), max_length=64, blank=True)
    gender = models.CharField(
        _("gender"),
        max_length=1,
        blank=True,
        choices=[("f", _("Female")), ("m", _("Male"))],
    )
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    company = models.CharField(_("company"), max_length=100, blank=True)
    province = models.CharField(_("province"), max_length=32, blank=True)
    city = models.CharField(_("city"), max_length=32, blank=True)
    source = models.CharField(
        _("source"),
        max_length=64,
        blank=True,
        help_text=_("Where the customer came from: shop, Tmall, referral …"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
        db_index=False,  # customer_owner_idx starts with the owner
    )
    business_line = models.CharField(_("business line"), max_length=64, blank=True)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")
    tier = models.CharField(_("tier"), max_length=16, choices=Tier.choices, default=Tier.REGULAR)
    lifecycle_stage = models.CharField(
        _("lifecycle stage"),
        max_length=16,
        choices=LifecycleStage.choices,
        default=LifecycleStage.INQUIRY,
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default=default_time_zone, validators=[validate_zone_name]
    )
    preferred_channel = models.CharField(
        _("preferred channel"), max_length=16, blank=True, choices=Channel.choices
    )
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.ZH_HANS
    )
    do_not_contact = models.BooleanField(_("do not contact"), default=False)
    do_not_contact_at = models.DateTimeField(_("do not contact since"), null=True, blank=True)
    do_not_contact_reason = models.CharField(_("do-not-contact reason"), max_length=200, blank=True)
    attributes = models.JSONField(_("custom attributes"), default=_empty_dict, blank=True)
    # What staff should know before contacting the customer (written on the customer page).
    note = models.TextField(_("note"), max_length=2000, blank=True, db_default="")

    # Derived figures: recomputed from the events by ``derived.refresh`` whenever events arrive.
    first_purchase_at = models.DateTimeField(_("first purchase at"), null=True, blank=True)
    last_purchase_at = models.DateTimeField(_("last purchase at"), null=True, blank=True)
    order_count = models.PositiveIntegerField(_("orders"), default=0)
    total_spend = models.DecimalField(
        _("total spend"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    spend_12m = models.DecimalField(
        _("spend in the last 12 months"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    last_contact_at = models.DateTimeField(_("last contact at"), null=True, blank=True)
    last_reply_at = models.DateTimeField(_("last reply at"), null=True, blank=True)
    last_satisfaction = models.PositiveSmallIntegerField(
        _("last satisfaction score"), null=True, blank=True
    )
    last_nps = models.PositiveSmallIntegerField(_("latest NPS"), null=True, blank=True)
    last_ces = models.PositiveSmallIntegerField(_("latest CES"), null=True, blank=True)
    # Decimal, rounded to 2 places in SQL: the same value on SQLite and PostgreSQL, so a
    # condition such as ``csat_12m lt 3.5`` selects the same customers on both.
    csat_12m = models.DecimalField(
        _("average CSAT, last 12 months"), max_digits=4, decimal_places=2, null=True, blank=True
    )
    nps_12m = models.DecimalField(
        _("average NPS, last 12 months"), max_digits=4, decimal_places=2, null=True, blank=True
    )
    ces_12m = models.DecimalField(
        _("average CES, last 12 months"), max_digits=4, decimal_places=2, null=True, blank=True
    )
    complaint_count = models.PositiveIntegerField(_("complaints"), default=0)
    # Set when the customer's personal data was erased at their request (huifang.privacy):
    # the row stays, anonymised, so the figures that count it do not change.
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True, editable=False)

    # Audit entries name a customer by number, never by name (huifang.audit reads this): the
    # log is append-only, so a name written there could never be erased.
    audit_by_number = True

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        # Declared here rather than with unique=True / db_index=True, which on PostgreSQL would
        # add a second "LIKE" index per column that no query uses.
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="customer_external_id_unique"),
        ]
        indexes = [
            models.Index(fields=["phone"], name="customer_phone_idx"),
            models.Index(fields=["phone_tail"], name="customer_phone_tail_idx"),
            models.Index(fields=["email"], name="customer_email_idx"),
            # Keyset pagination of the customer list: one index per sort order.
            models.Index(fields=["name", "id"], name="customer_name_idx"),
            models.Index(fields=["total_spend", "id"], name="customer_spend_idx"),
            models.Index(fields=["order_count", "id"], name="customer_orders_idx"),
            models.Index(fields=["last_purchase_at", "id"], name="customer_last_purchase_idx"),
            models.Index(fields=["province", "city"], name="customer_region_idx"),
            models.Index(fields=["owner", "id"], name="customer_owner_idx"),
            # Rule conditions (the live audience, segment evaluations) most often start from a
            # city or a tier, then how recently the customer bought: these answer them from the
            # index alone, without reading the rows (SQLite uses one index per table).
            models.Index(fields=["city", "tier", "last_purchase_at"], name="customer_city_idx"),
            models.Index(fields=["tier", "last_purchase_at"], name="customer_tier_idx"),
            models.Index(fields=["spend_12m"], name="customer_spend_12m_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.phone:
            try:
                self.phone = normalize_phone(self.phone)
            except ValidationError as exc:
                raise ValidationError({"phone": exc.messages}) from None
        if not isinstance(self.attributes, dict):
            raise ValidationError({"attributes": _("Custom attributes must be an object.")})

    @property
    def audit_label(self) -> str:
        """How audit entries name the customer: by number, nothing personal."""
        return f"#{self.pk}"

    @property
    def phone_display(self) -> str:
        return format_phone(self.phone)

    @property
    def phone_masked(self) -> str:
        return mask_phone(self.phone)


class ContactPoint(models.Model):
    """An extra phone, e-mail or WeCom id beyond the primary ones on the customer."""

    class Kind(models.TextChoices):
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("E-mail")
        WECOM = "wecom", _("WeCom")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="contact_points", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    value = models.CharField(_("value"), max_length=254)
    label = models.CharField(_("label"), max_length=50, blank=True)
    invalid_at = models.DateTimeField(
        _("marked invalid at"),
        null=True,
        blank=True,
        help_text=_("Set when staff found the number wrong or the address bounced."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("contact point")
        verbose_name_plural = _("contact points")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind", "value"], name="contact_point_unique"
            ),
        ]
        indexes = [models.Index(fields=["kind", "value"], name="contact_point_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class Consent(models.Model):
    """The customer's current decision for one channel, with the evidence for it.

    Every change is also written to the customer's timeline as a ``consent_changed`` event, so
    the history of decisions is kept alongside the current state.
    """

    class Status(models.TextChoices):
        GRANTED = "granted", _("Granted")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    class Method(models.TextChoices):
        WEB_FORM = "web_form", _("Web form")
        PAPER = "paper", _("Signed paper form")
        VERBAL = "verbal", _("Verbal, recorded by staff")
        API = "api", _("Via API")
        IMPORT = "import", _("Imported")
        SMS_REPLY = "sms_reply", _("SMS reply")
        UNSUBSCRIBE_LINK = "unsubscribe_link", _("Unsubscribe link")
        ERASURE = "erasure", _("Erasure request")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="consents", db_index=False
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    recorded_at = models.DateTimeField(_("recorded at"))
    method = models.CharField(_("how"), max_length=20, choices=Method.choices)
    text_version = models.CharField(_("consent text version"), max_length=50, blank=True)
    evidence = models.TextField(
        _("evidence"), blank=True, help_text=_("Form id, recording reference, IP address …")
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("recorded by"),
    )

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel"], name="consent_per_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.channel} {self.status}"


event_type_key_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{1,63}$",
    _("A key is 2–64 lowercase letters, digits or underscores and starts with a letter."),
)


class CustomEventType(TimeStampedModel):
    """An event type defined by an admin, beside the built-in ones."""

    key = models.CharField(
        _("key"), max_length=64, unique=True, validators=[event_type_key_validator]
    )
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    is_contact = models.BooleanField(
        _("counts as contact"),
        default=False,
        help_text=_("Events of this type update the customer's “last contact at”."),
    )

    class Meta:
        ordering = ["key"]
        verbose_name = _("custom event type")
        verbose_name_plural = _("custom event types")

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    def clean(self) -> None:
        from .event_types import event_types

        if self.key in event_types:
            raise ValidationError(
                {"key": _("“%(key)s” is a built-in event type.") % {"key": self.key}}
            )


class Event(models.Model):
    class Source(models.TextChoices):
        API = "api", _("API")
        IMPORT = "import", _("Import")
        WEBHOOK = "webhook", _("Webhook")
        STAFF = "staff", _("Staff")
        SYSTEM = "system", _("Huifang")
        DEMO = "demo", _("Demo data")

    # Indexed by event_timeline_idx, which starts with the customer.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    type = models.CharField(_("type"), max_length=64)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    properties = models.JSONField(_("properties"), default=_empty_dict, blank=True)
    source = models.CharField(
        _("source"), max_length=16, choices=Source.choices, default=Source.API
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, null=True, blank=True)
    # Copied out of ``properties`` on ingest so figures are summed in SQL, not in Python.
    amount = models.DecimalField(
        _("amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    score = models.SmallIntegerField(
        _("CSAT score"),
        null=True,
        blank=True,
        validators=[MinValueValidator(CSAT.low), MaxValueValidator(CSAT.high)],
        help_text=_("Satisfaction from 1 to 5: properties.csat or properties.score."),
    )
    nps = models.SmallIntegerField(
        _("NPS score"),
        null=True,
        blank=True,
        validators=[MinValueValidator(NPS.low), MaxValueValidator(NPS.high)],
        help_text=_("Likelihood to recommend from 0 to 10: properties.nps."),
    )
    ces = models.SmallIntegerField(
        _("CES score"),
        null=True,
        blank=True,
        validators=[MinValueValidator(CES.low), MaxValueValidator(CES.high)],
        help_text=_("Customer effort from 1 to 7: properties.ces."),
    )

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [
            models.Index(fields=["customer", "occurred_at", "id"], name="event_timeline_idx"),
            models.Index(fields=["type", "occurred_at"], name="event_type_time_idx"),
            # "Last satisfaction score" (and the latest NPS, CES) looks up a customer's newest
            # event carrying that score.
            models.Index(
                fields=["customer", "occurred_at", "id"],
                name="event_score_idx",
                condition=Q(score__isnull=False),
            ),
            models.Index(
                fields=["customer", "occurred_at", "id"],
                name="event_nps_idx",
                condition=Q(nps__isnull=False),
            ),
            models.Index(
                fields=["customer", "occurred_at", "id"],
                name="event_ces_idx",
                condition=Q(ces__isnull=False),
            ),
        ]
        constraints = [
            # Partial: most events carry no key, and indexing their NULLs would only cost.
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="event_idempotency_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="event_amount_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} @ {self.occurred_at:%Y-%m-%d %H:%M}"

    @property
    def type_label(self) -> str:
        from .event_types import event_types

        entry = event_types.get(self.type)
        return str(entry.label) if entry else self.type
