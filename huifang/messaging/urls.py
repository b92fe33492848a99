from django.urls import path

from . import views

app_name = "messaging"

urlpatterns = [
    path("<str:token>/", views.unsubscribe_page, name="unsubscribe"),
]
