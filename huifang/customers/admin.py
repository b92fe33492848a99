from django.contrib import admin

from . import derived
from .models import Consent, ContactPoint, Customer, CustomEventType, Event, Tag


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0
    raw_id_fields = ["recorded_by"]


class ContactPointInline(admin.TabularInline):
    model = ContactPoint
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "external_id",
        "phone",
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
    readonly_fields = [*derived.FIGURES, "created_at", "updated_at"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["type", "customer", "occurred_at", "source", "amount", "score"]
    list_filter = ["type", "source"]
    search_fields = ["=idempotency_key", "=customer__external_id"]
    raw_id_fields = ["customer"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "color", "created_at"]
    search_fields = ["name"]


@admin.register(CustomEventType)
class CustomEventTypeAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "is_contact", "created_at"]
    search_fields = ["key", "name"]
