from django.contrib import admin

from .models import Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "customer", "priority", "status", "assignee", "due_at"]
    list_filter = ["status", "priority"]
    raw_id_fields = ["customer", "enrollment", "rule", "assignee"]
