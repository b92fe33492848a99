from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from huifang.core.admin import ReadOnlyMixin

from .assignment import strategy_choices
from .models import ApiToken, StaffProfile, Team


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    fk_name = "user"
    can_delete = False
    autocomplete_fields = ["team"]
    raw_id_fields = ["supervisor"]


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    inlines = [StaffProfileInline]
    list_display = ["username", "first_name", "last_name", "email", "is_staff", "is_active"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "supervisor", "time_zone", "assign_strategy"]
    search_fields = ["name", "key"]
    raw_id_fields = ["supervisor"]

    def formfield_for_dbfield(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.name == "assign_strategy":
            return forms.ChoiceField(
                label=db_field.verbose_name, choices=strategy_choices(), required=True
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read-only: tokens are issued and revoked on the API tokens page, which audits both (a
    revoked token is never brought back)."""

    list_display = ["name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at"]
    fields = ["name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
