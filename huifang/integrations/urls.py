from django.urls import path

from . import views

app_name = "integrations"

urlpatterns = [
    path("", views.provider_list, name="list"),
    path("public-address/", views.public_address, name="public_address"),
    path("add/", views.choose_kind, name="add"),
    path("add/<str:kind>/", views.add, name="add_kind"),
    path("<int:pk>/", views.edit, name="edit"),
    path("<int:pk>/enable/", views.enable, name="enable"),
    path("<int:pk>/disable/", views.disable, name="disable"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/test/", views.send_test_message, name="test"),
]
