from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "huifang.accounts"
    label = "accounts"
    verbose_name = _("Staff and access")

    def ready(self) -> None:
        # Signing in is Django's flow, not one of our services: its signals are the only place
        # to see every attempt, the admin's included (docs/security.md).
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from . import signin

        user_login_failed.connect(signin.log_failure, dispatch_uid="huifang.signin.failure")
        user_locked_out.connect(signin.log_lockout, dispatch_uid="huifang.signin.lockout")
        user_logged_in.connect(signin.log_success, dispatch_uid="huifang.signin.success")
