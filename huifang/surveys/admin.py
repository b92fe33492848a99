from django.contrib import admin

from huifang.accounts.permissions import TableAdmin
from huifang.core.admin import ReadOnlyInline, ReadOnlyMixin

from .models import Survey, SurveyVersion


class SurveyVersionInline(ReadOnlyInline):
    model = SurveyVersion
    fields = ("number", "note", "created_by", "created_at")
    readonly_fields = fields


@admin.register(Survey)
class SurveyAdmin(ReadOnlyMixin, TableAdmin, admin.ModelAdmin):
    """Shown only: a questionnaire changes through ``save_survey``, which writes the new
    version and its audit entry (``huifang surveys import``, later the builder)."""

    table_object = "survey"

    list_display = ["key", "name", "status", "current_version", "updated_at"]
    list_filter = ["status"]
    search_fields = ["key", "name"]
    inlines = [SurveyVersionInline]
