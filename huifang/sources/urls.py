from django.urls import path

from . import views

app_name = "sources"

urlpatterns = [
    path("", views.source_list, name="list"),
    path("new/", views.new, name="new"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/mapping/", views.save_mapping, name="mapping"),
    path("<int:pk>/try/", views.try_payload, name="try"),
    path("<int:pk>/secret/", views.reveal, name="reveal"),
    path("<int:pk>/rotate/", views.rotate, name="rotate"),
    path("<int:pk>/toggle/", views.toggle, name="toggle"),
    path("<int:pk>/received/<int:number>/", views.received, name="received"),
]
