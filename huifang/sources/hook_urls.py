"""Where sources push (``/hooks/<slug>/``): public, each request signed."""

from django.urls import path

from . import views

app_name = "hooks"

urlpatterns = [path("<str:slug>/", views.hook, name="receive")]
