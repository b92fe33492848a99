from django.urls import path

from . import views

app_name = "organisation"

urlpatterns = [
    path("", views.settings_page, name="settings"),
    path("calendar/", views.calendar_page, name="calendar"),
    path("calendar/day/", views.toggle_day, name="toggle_day"),
    path("calendar/import/", views.import_calendar, name="import"),
    path("calendar/confirm/", views.confirm_year, name="confirm_year"),
]
