from django.urls import path

from . import views

app_name = "subscriptions"

urlpatterns = [
    path("", views.subscription_list, name="list"),
    path("add/", views.add, name="add"),
    path("<int:pk>/", views.log, name="log"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/pause/", views.pause, name="pause"),
    path("<int:pk>/resume/", views.resume, name="resume"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/test/", views.send_test, name="test"),
    path("<int:pk>/deliveries/<int:delivery>/replay/", views.replay, name="replay"),
]
