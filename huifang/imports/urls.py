from django.urls import path

from . import views

app_name = "imports"

urlpatterns = [
    path("", views.imports, name="list"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/progress/", views.progress, name="progress"),
    path("<int:pk>/problems.<str:fmt>", views.problems, name="problems"),
    path("<int:pk>/undo/", views.take_back, name="undo"),
]
