from importlib import import_module
from typing import Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.models import TOTPDevice

from huifang.audit.admin import EntryAdmin
from huifang.audit.models import Entry
from huifang.core.admin import ReadOnlyMixin

from .assignment import strategy_choices
from .models import ApiToken, StaffProfile, Team
from .permissions import TableAdmin


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    fk_name = "user"
    can_delete = False
    autocomplete_fields = ["team"]
    raw_id_fields = ["supervisor"]


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(TableAdmin, UserAdmin):
    table_object = "staff"
    table_view = "manage"
    table_edit = "manage"

    inlines = [StaffProfileInline]
    list_display = ["username", "first_name", "last_name", "email", "is_staff", "is_active"]


@admin.register(Team)
class TeamAdmin(TableAdmin, admin.ModelAdmin):
    table_object = "staff"
    table_view = "manage"
    table_edit = "manage"

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
class ApiTokenAdmin(ReadOnlyMixin, TableAdmin, admin.ModelAdmin):
    """Read-only: tokens are issued and revoked on the API tokens page, which audits both (a
    revoked token is never brought back)."""

    table_object = "token"
    table_view = "manage"
    table_edit = "manage"

    list_display = [
        "name",
        "scope",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    fields = ["name", "scope", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]


@admin.register(Entry)
class AuditEntryAdmin(TableAdmin, EntryAdmin):
    """The audit log's read-only admin page, registered here because the audit app sits below
    accounts: the table says who may see it; it has no row for changing it, so nobody may."""

    table_object = "audit"


def _answer_from_table(model: Any, obj: str, action: str) -> None:
    """Re-register another library's admin page so that it, too, asks the permission table."""
    library_admin = type(admin.site._registry[model])
    admin.site.unregister(model)
    admin.site.register(
        model,
        type(
            library_admin.__name__,
            (TableAdmin, library_admin),
            {"table_object": obj, "table_view": action, "table_edit": action},
        ),
    )


# This app is installed before the libraries (its ``createsuperuser`` must win), so their admin
# modules are loaded here, before their pages are re-registered.
import_module("axes.admin")
import_module("django_otp.plugins.otp_totp.admin")

# Roles are groups; the sign-in throttle's records (unlocking an account deletes them) and
# authenticator devices (removing a lost one) are staff administration too.
for _model in (Group, AccessAttempt, AccessLog, AccessFailureLog, TOTPDevice):
    _answer_from_table(_model, "staff", "manage")
