from django.urls import path

from . import views

app_name = "exports"

urlpatterns = [
    path("customers.<str:kind>", views.customers, name="customers"),
    path("tasks.<str:kind>", views.tasks, name="tasks"),
    path("messages.<str:kind>", views.messages, name="messages"),
    path("audit.<str:kind>", views.audit, name="audit"),
]
