"""Report exports and scheduled reports, under ``/analytics/`` (namespace ``reports``)."""

from django.urls import path

from . import report_views

app_name = "reports"

urlpatterns = [
    path("export/", report_views.export_table, name="export"),
    path("schedules/", report_views.schedules, name="schedules"),
    path("schedules/new/", report_views.schedule_new, name="schedule_new"),
    path("schedules/<int:pk>/", report_views.schedule_edit, name="schedule_edit"),
    path("schedules/<int:pk>/delete/", report_views.schedule_delete, name="schedule_delete"),
]
