from django.contrib import admin

from huifang.core.admin import NoDeleteMixin

from .models import Task


@admin.register(Task)
class TaskAdmin(NoDeleteMixin, admin.ModelAdmin):
    """Never deleted here: a task's history (reveals, outcomes) hangs off it."""

    list_display = ["title", "customer", "priority", "status", "assignee", "due_at"]
    list_filter = ["status", "priority"]
    raw_id_fields = ["customer", "enrollment", "rule", "assignee"]
