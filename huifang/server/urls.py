from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import set_language

from huifang.accounts.permissions import public, requires
from huifang.audit import views as audit_views
from huifang.server import home
from huifang.server import views as core_views
from huifang.server.api import api

urlpatterns = [
    path("", home.home, name="home"),
    path("health/", core_views.health, name="health"),
    path(
        "login/",
        public("the sign-in form")(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path(
        "logout/",
        public("ends the visitor's own session")(auth_views.LogoutView.as_view()),
        name="logout",
    ),
    path("i18n/setlang/", public("sets the visitor's language")(set_language), name="set_language"),
    path("customers/import/", include("huifang.imports.urls")),
    path("exports/", include("huifang.exports.urls")),
    path("privacy/", include("huifang.privacy.urls")),
    path("customers/", include("huifang.customers.urls")),
    path("tasks/", include("huifang.tasks.urls")),
    path("rules/", include("huifang.studio.urls")),
    path("", include("huifang.messaging.urls")),
    path("", include("huifang.surveys.urls")),
    path("settings/organisation/", include("huifang.organisation.urls")),
    path("settings/subscriptions/", include("huifang.subscriptions.urls")),
    path("settings/", include("huifang.accounts.urls")),
    path("channels/", include("huifang.integrations.urls")),
    path("settings/sources/", include("huifang.sources.urls")),
    path("hooks/", include("huifang.sources.hook_urls")),
    path("analytics/", include("huifang.analytics.urls")),
    path("inbound/", include("huifang.integrations.inbound_urls")),
    path("analytics/", include("huifang.analytics.urls_reports")),
    # The audit app sits below accounts, so its page is guarded here.
    path("settings/audit/", requires("audit", "view")(audit_views.audit_log), name="audit"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]

admin.site.site_header = "Huifang 回访"
admin.site.site_title = "Huifang"

# The error pages in the site's layout and the reader's language (``errors``).
handler403 = "huifang.server.errors.forbidden"
handler404 = "huifang.server.errors.not_found"
handler500 = "huifang.server.errors.server_error"
