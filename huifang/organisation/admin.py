from django.contrib import admin

from huifang.accounts.permissions import TableAdmin

from .models import CalendarDay


@admin.register(CalendarDay)
class CalendarDayAdmin(TableAdmin, admin.ModelAdmin):
    table_object = "organisation"
    table_view = "manage"
    table_edit = "manage"

    list_display = ["date", "kind", "name", "created_by"]
    list_filter = ["kind"]
    search_fields = ["name"]
    date_hierarchy = "date"
    raw_id_fields = ["created_by"]
