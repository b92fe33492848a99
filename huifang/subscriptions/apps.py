from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubscriptionsConfig(AppConfig):
    name = "huifang.subscriptions"
    label = "subscriptions"
    verbose_name = _("Event subscriptions")

    def ready(self) -> None:
        # Imported here: models can be imported only once the app registry is ready. The apps
        # that tell what happened sit below this one (docs/architecture.md) and call these
        # hooks from the services that make each change.
        from huifang.customers import changes as customers
        from huifang.customers import consent, events
        from huifang.messaging import changes as messages
        from huifang.tasks import changes as tasks

        from . import listeners

        tasks.happened.connect(listeners.on_tasks)
        messages.happened.connect(listeners.on_messages)
        customers.happened.connect(listeners.on_customers)
        events.recorded.connect(listeners.on_events)
        consent.withdrawn.connect(listeners.on_withdrawn)
