from django.urls import path

from . import views

app_name = "analytics"

urlpatterns = [
    path("", views.cockpit, name="cockpit"),
    path("teams/", views.performance, {"page": "teams"}, name="teams"),
    path("channels/", views.performance, {"page": "channels"}, name="channels"),
    path("rules/", views.performance, {"page": "rules"}, name="rules"),
    path("list/", views.drill_list, name="list"),
    path("detractors/", views.detractor_list, name="detractors"),
]
