from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImportsConfig(AppConfig):
    name = "huifang.imports"
    label = "imports"
    verbose_name = _("Imports")

    def ready(self) -> None:
        # Imported here, not at the top: models can be imported only once the app registry is
        # ready (Django's rule for AppConfig.ready()).
        from huifang.customers.event_properties import PropertyType, event_properties

        # The properties an import of events writes that no app below registers.
        if "store" not in event_properties:
            event_properties.register(PropertyType("store", _("Store")))
