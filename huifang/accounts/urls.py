from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("api-tokens/", views.tokens, name="tokens"),
    path("api-tokens/<int:pk>/revoke/", views.revoke_token, name="revoke_token"),
]
