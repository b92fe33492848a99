from django.contrib import admin

from huifang.accounts.permissions import TableAdmin
from huifang.core.admin import NoDeleteMixin

from .models import Task


@admin.register(Task)
class TaskAdmin(NoDeleteMixin, TableAdmin, admin.ModelAdmin):
    """Never deleted here: a task's history (reveals, outcomes) hangs off it."""

    table_object = "task"
    table_edit = "assign"

    list_display = ["title", "customer", "priority", "status", "assignee", "due_at"]
    list_filter = ["status", "priority"]
    raw_id_fields = ["customer", "enrollment", "rule", "assignee"]
