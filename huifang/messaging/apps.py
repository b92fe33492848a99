from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    """Messages to customers: templates and the outbox.

    The app label stays ``outbox`` (its tables and migrations were made under that name).
    """

    name = "huifang.messaging"
    label = "outbox"
    verbose_name = _("Outbox")
