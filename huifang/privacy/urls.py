from django.urls import path

from . import views

app_name = "privacy"

urlpatterns = [
    path("customers/<int:pk>/data.<str:kind>", views.export, name="export"),
    path("customers/<int:pk>/erase", views.erase, name="erase"),
]
