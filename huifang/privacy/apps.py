from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    """The customer's rights: access (everything held, as a file), erasure, retention."""

    name = "huifang.privacy"
    label = "privacy"
    verbose_name = _("Privacy")
