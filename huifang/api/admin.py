from django.contrib import admin

from .models import IdempotentRequest


@admin.register(IdempotentRequest)
class IdempotentRequestAdmin(admin.ModelAdmin):
    list_display = ["key", "token", "status_code", "created_at"]
    readonly_fields = ["token", "key", "fingerprint", "status_code", "content_type", "created_at"]
    exclude = ["body"]
