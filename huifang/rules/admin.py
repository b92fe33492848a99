from django.contrib import admin

from huifang.accounts.permissions import TableAdmin
from huifang.core.admin import NoDeleteMixin

from .models import Rule, RuleVersion


class RuleVersionInline(admin.TabularInline):
    model = RuleVersion
    extra = 0
    can_delete = False
    fields = ("number", "comment", "created_by", "created_at")
    readonly_fields = ("number", "comment", "created_by", "created_at")

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False  # versions are written by saving a rule, never by hand


@admin.register(Rule)
class RuleAdmin(NoDeleteMixin, TableAdmin, admin.ModelAdmin):
    """Name and key only: a rule's status and versions change through the studio, which
    records each change (pausing or activating here would bypass the engine and the log)."""

    table_object = "rule"

    list_display = ["key", "name", "status", "current_version", "updated_at"]
    list_filter = ["status"]
    search_fields = ["key", "name"]
    readonly_fields = ["status", "current_version"]
    inlines = [RuleVersionInline]
