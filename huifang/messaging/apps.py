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
        from huifang.rules.document import references
        from huifang.surveys.links import message_rule

        from . import timeline as messages
        from .inbound import Inbox
        from .services import check_rule_templates, rule_of_message
        from .unsubscribe import cancel_pending

        inbox.provide(Inbox())
        timeline.sources.register(messages.SOURCE)
        messages.register_properties()
        consent.withdrawn.connect(cancel_pending)
        # A rule is saved only when the templates asking for a questionnaire link have one;
        # a response opened from a message's link is counted under the message's rule.
        references.connect(check_rule_templates)
        message_rule.provide(rule_of_message)
