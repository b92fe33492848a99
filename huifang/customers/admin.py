from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from huifang.accounts.permissions import TableAdmin
from huifang.core.admin import NoDeleteMixin, ReadOnlyInline

from . import derived, pii
from .models import Consent, ContactPoint, Customer, CustomEventType, Event, Tag


class ConsentInline(ReadOnlyInline):
    """Evidence: consent is granted and withdrawn on the customer page or through the API
    (``huifang.customers.consent``), which keep the history and audit it."""

    model = Consent
    fields = readonly_fields = (
        "channel",
        "status",
        "recorded_at",
        "method",
        "text_version",
        "recorded_by",
    )


class ContactPointInline(ReadOnlyInline):
    model = ContactPoint
    fields = readonly_fields = ("kind", "masked_value", "label", "invalid_at")

    @admin.display(description=_("value"))
    def masked_value(self, obj: ContactPoint) -> str:
        return pii.mask(obj.kind, obj.value)


@admin.register(Customer)
class CustomerAdmin(NoDeleteMixin, TableAdmin, admin.ModelAdmin):
    """Personal contact details are masked here as everywhere (DESIGN.md invariant 9): they
    are shown and edited on the customer page, where each reveal is audited."""

    table_object = "customer"

    list_display = [
        "name",
        "external_id",
        "masked_phone",
        "tier",
        "lifecycle_stage",
        "province",
        "city",
        "order_count",
        "total_spend",
    ]
    list_filter = ["tier", "lifecycle_stage", "do_not_contact"]
    search_fields = ["=external_id", "=phone", "name"]
    raw_id_fields = ["owner"]
    filter_horizontal = ["tags"]
    inlines = [ContactPointInline, ConsentInline]
    show_full_result_count = False
    exclude = list(pii.FIELDS)
    readonly_fields = [
        "masked_phone",
        "masked_email",
        "masked_wecom",
        *derived.FIGURES,
        "created_at",
        "updated_at",
    ]

    @admin.display(description=_("phone"))
    def masked_phone(self, obj: Customer) -> str:
        return pii.masked(obj, "phone")

    @admin.display(description=_("e-mail"))
    def masked_email(self, obj: Customer) -> str:
        return pii.masked(obj, "email")

    @admin.display(description=_("WeCom external user id"))
    def masked_wecom(self, obj: Customer) -> str:
        return pii.masked(obj, "wecom_external_userid")


@admin.register(Event)
class EventAdmin(TableAdmin, admin.ModelAdmin):
    table_object = "event"
    table_edit = "create"

    list_display = ["type", "customer", "occurred_at", "source", "amount", "score"]
    list_filter = ["type", "source"]
    search_fields = ["=idempotency_key", "=customer__external_id"]
    raw_id_fields = ["customer"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False


@admin.register(Tag)
class TagAdmin(TableAdmin, admin.ModelAdmin):
    table_object = "customer"

    list_display = ["name", "color", "created_at"]
    search_fields = ["name"]


@admin.register(CustomEventType)
class CustomEventTypeAdmin(TableAdmin, admin.ModelAdmin):
    table_object = "organisation"
    table_view = "manage"
    table_edit = "manage"

    list_display = ["key", "name", "is_contact", "created_at"]
    search_fields = ["key", "name"]
