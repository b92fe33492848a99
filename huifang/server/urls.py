from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import set_language

from huifang.accounts.decorators import role_required
from huifang.accounts.roles import Role
from huifang.audit import views as audit_views
from huifang.server import views as core_views
from huifang.server.api import api

urlpatterns = [
    path("", core_views.home, name="home"),
    path("health/", core_views.health, name="health"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("customers/", include("huifang.customers.urls")),
    path("tasks/", include("huifang.tasks.urls")),
    path("rules/", include("huifang.studio.urls")),
    path("", include("huifang.messaging.urls")),
    path("settings/organisation/", include("huifang.organisation.urls")),
    path("settings/", include("huifang.accounts.urls")),
    path("channels/", include("huifang.integrations.urls")),
    path("inbound/", include("huifang.integrations.inbound_urls")),
    path("settings/audit/", role_required(Role.ADMIN)(audit_views.audit_log), name="audit"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]

admin.site.site_header = "Huifang 回访"
admin.site.site_title = "Huifang"
