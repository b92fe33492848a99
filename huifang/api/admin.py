from django.contrib import admin

from huifang.accounts.permissions import TableAdmin

from .models import IdempotentRequest


@admin.register(IdempotentRequest)
class IdempotentRequestAdmin(TableAdmin, admin.ModelAdmin):
    table_object = "token"
    table_view = "manage"
    table_edit = "manage"

    list_display = ["key", "token", "status_code", "created_at"]
    readonly_fields = ["token", "key", "fingerprint", "status_code", "content_type", "created_at"]
    exclude = ["body"]
