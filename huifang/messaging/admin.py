from django.contrib import admin

from .models import Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "rule", "step", "channel", "status", "reason", "sent_at"]
    list_filter = ["status", "channel", "reason"]
    raw_id_fields = ["customer", "enrollment", "rule"]
    readonly_fields = ["decisions"]
