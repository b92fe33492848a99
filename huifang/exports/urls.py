from django.urls import path

from . import views

app_name = "exports"

urlpatterns = [
    path("customers.<str:kind>", views.customers, name="customers"),
]
