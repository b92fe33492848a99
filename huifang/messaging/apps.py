from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    """Messages to customers: templates and the outbox.

    The app label stays ``outbox`` (its tables and migrations were made under that name).
    """

    name = "huifang.messaging"
    label = "outbox"
    verbose_name = _("Outbox")

    def ready(self) -> None:
        # Imported here, not at the top: models can be imported only once the app registry is
        # ready (Django's rule for AppConfig.ready()).
        # Withdrawn consent cancels the customer's pending messages (customers.consent calls
        # this hook; customers never import messaging).
        from huifang.customers import consent, timeline
        from huifang.integrations.inbound import inbox

        from . import timeline as messages
        from .inbound import Inbox
        from .unsubscribe import cancel_pending

        inbox.provide(Inbox())
        timeline.sources.register(messages.SOURCE)
        consent.withdrawn.connect(cancel_pending)
