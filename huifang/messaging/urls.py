from django.urls import path

from . import pages, views

app_name = "messaging"

urlpatterns = [
    path("u/<str:token>/", views.unsubscribe_page, name="unsubscribe"),
    path("l/<str:token>", views.follow_link, name="link"),
    # Staff pages.
    path("messages/", pages.message_list, name="messages"),
    path("messages/<int:pk>/", pages.message_detail, name="message"),
    path("templates/", pages.template_list, name="templates"),
    path("templates/new/", pages.template_new, name="template_new"),
    path("templates/preview/", pages.template_preview, name="template_preview"),
    path("templates/preview/customers/", pages.preview_customers, name="preview_customers"),
    path("templates/<int:pk>/", pages.template_edit, name="template"),
    path(
        "templates/<int:pk>/versions/<int:number>/restore/",
        pages.template_restore,
        name="template_restore",
    ),
]
