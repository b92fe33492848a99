from django.urls import path

from . import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/timeline/", views.customer_timeline, name="timeline"),
    path("<int:pk>/edit/", views.customer_edit, name="edit"),
    path("<int:pk>/consent/", views.customer_consent, name="consent"),
    path("<int:pk>/reveal/<str:field>/", views.reveal, name="reveal"),
]
