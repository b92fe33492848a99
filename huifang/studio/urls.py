from django.urls import path

from . import (
    builder,
    dashboard,
    gallery,
    preview,
    sets_views,
    survey_results,
    survey_views,
    versions,
    views,
)

app_name = "rules"

urlpatterns = [
    path("", views.rule_list, name="list"),
    path("new/", builder.new_rule, name="new"),
    path("gallery/", gallery.gallery, name="gallery"),
    path("gallery/<slug:key>/use/", gallery.use, name="use"),
    path("templates/preview/", builder.template_preview, name="template_preview"),
    path("sets/", sets_views.set_list, name="sets"),
    path("sets/new/", sets_views.set_create, name="set_new"),
    path("sets/<slug:key>/", sets_views.set_detail, name="set_detail"),
    path("sets/<slug:key>/edit/", sets_views.set_edit, name="set_edit"),
    path("sets/<slug:key>/preview/", sets_views.set_preview, name="set_preview"),
    path("sets/<slug:key>/switch/", sets_views.set_switch, name="set_switch"),
    path("sets/<slug:key>/schedule/", sets_views.set_schedule, name="set_schedule"),
    path(
        "sets/<slug:key>/switches/<int:pk>/cancel/",
        sets_views.switch_cancel,
        name="switch_cancel",
    ),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("surveys/", survey_views.survey_list, name="survey_list"),
    path("surveys/new/", survey_views.survey_new, name="survey_new"),
    path("surveys/preview/", survey_views.survey_preview, name="survey_preview"),
    path("surveys/gallery/", survey_views.survey_gallery, name="survey_gallery"),
    path("surveys/gallery/<slug:key>/use/", survey_views.survey_use, name="survey_use"),
    path("surveys/<slug:key>/edit/", survey_views.survey_edit, name="survey_edit"),
    path("surveys/<slug:key>/status/", survey_views.survey_status, name="survey_status"),
    path("surveys/<slug:key>/results/", survey_results.results, name="survey_results"),
    path(
        "surveys/<slug:key>/results/export.<str:kind>",
        survey_results.export,
        name="survey_export",
    ),
    path(
        "surveys/<slug:key>/results/answers/<int:pk>/tags/",
        survey_results.tag_answer,
        name="survey_answer_tags",
    ),
    path("<slug:key>/", views.rule_detail, name="detail"),
    path("<slug:key>/figures/", dashboard.rule_figures, name="figures"),
    path("<slug:key>/edit/", builder.edit, name="edit"),
    path("<slug:key>/compare/", versions.compare, name="compare"),
    path("<slug:key>/rollback/<int:number>/", versions.roll_back, name="rollback"),
    path("<slug:key>/audience/", builder.audience, name="audience"),
    path("<slug:key>/preview/", preview.preview, name="preview"),
    path("<slug:key>/preview/result/", preview.preview_result, name="preview_result"),
    path("<slug:key>/activate/", preview.activate_version, name="activate"),
]
