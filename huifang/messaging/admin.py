from typing import Any

from django.contrib import admin

from huifang.accounts.permissions import TableAdmin
from huifang.core.admin import ReadOnlyMixin

from .models import Message, MessageTemplate, TemplateVersion


@admin.register(Message)
class MessageAdmin(ReadOnlyMixin, TableAdmin, admin.ModelAdmin):
    """Read-only: a message is evidence of what was sent, when and why."""

    table_object = "message"

    list_display = ["id", "customer", "rule", "step", "channel", "status", "reason", "sent_at"]
    list_filter = ["status", "channel", "reason"]
    raw_id_fields = ["customer", "enrollment", "rule"]
    readonly_fields = ["decisions"]


class TemplateVersionInline(admin.TabularInline):
    """Versions are immutable: shown, never edited here (``huifang.messaging.services``)."""

    model = TemplateVersion
    fields = ("number", "subject", "body", "sms_signature", "provider_template_code", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(MessageTemplate)
class MessageTemplateAdmin(TableAdmin, admin.ModelAdmin):
    table_object = "template"

    list_display = ["key", "channel", "name", "current_version", "updated_at"]
    list_filter = ["channel"]
    search_fields = ["key", "name"]
    fields = ["key", "channel", "name", "current_version"]
    readonly_fields = ["key", "channel", "current_version"]
    inlines = [TemplateVersionInline]

    def has_add_permission(self, request: Any) -> bool:
        return False  # templates are saved through the service, which validates them
