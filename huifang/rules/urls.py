from django.urls import path

from . import builder, views

app_name = "rules"

urlpatterns = [
    path("", views.rule_list, name="list"),
    path("new/", builder.new_rule, name="new"),
    path("templates/preview/", builder.template_preview, name="template_preview"),
    path("<slug:key>/", views.rule_detail, name="detail"),
    path("<slug:key>/edit/", builder.edit, name="edit"),
    path("<slug:key>/audience/", builder.audience, name="audience"),
]
