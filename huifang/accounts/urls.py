from django.urls import path

from . import staff_views, views

app_name = "accounts"

urlpatterns = [
    path("api-tokens/", views.tokens, name="tokens"),
    path("permissions/", views.permissions, name="permissions"),
    path("api-tokens/<int:pk>/revoke/", views.revoke_token, name="revoke_token"),
    path("password/", views.password, name="password"),
    path("profile/", staff_views.profile, name="profile"),
    path("staff/", staff_views.staff_list, name="staff"),
    path("staff/new/", staff_views.staff_new, name="staff_new"),
    path("staff/<int:pk>/", staff_views.staff_edit, name="staff_edit"),
    path("staff/<int:pk>/password/", staff_views.staff_password, name="staff_password"),
    path("two-factor/", views.two_factor, name="two_factor"),
    path("two-factor/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/<int:pk>/open/", views.open_notification, name="open_notification"),
    path(
        "notifications/read-all/",
        views.mark_all_notifications_read,
        name="mark_all_notifications_read",
    ),
    path("notifications/count/", views.notification_count, name="notification_count"),
    path("notifications/menu/", views.notification_menu, name="notification_menu"),
]
