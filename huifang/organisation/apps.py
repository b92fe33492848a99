from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrganisationConfig(AppConfig):
    name = "huifang.organisation"
    label = "organisation"
    verbose_name = _("Organisation settings")

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
