from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "huifang.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from . import event_properties, event_types

        event_types.register_builtin_types()
        event_properties.register_builtin_properties()
