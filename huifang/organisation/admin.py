from django.contrib import admin

from .models import CalendarDay


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "name", "created_by"]
    list_filter = ["kind"]
    search_fields = ["name"]
    date_hierarchy = "date"
    raw_id_fields = ["created_by"]
