from django.urls import path

from . import views

app_name = "surveys"

urlpatterns = [
    path("s/<str:token>/", views.answer_page, name="answer"),
]
