from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EngineConfig(AppConfig):
    name = "huifang.engine"
    label = "engine"
    verbose_name = _("Follow-up engine")

    def ready(self) -> None:
        # Imported here, not at the top: models can be imported only once the app registry is
        # ready (Django's rule for AppConfig.ready()).
        # The engine sits above customers, messaging and tasks (docs/architecture.md): they
        # call these hooks, never the engine itself.
        from huifang.customers import consent, events, timeline
        from huifang.tasks import outcomes

        from . import lifecycle, triggers
        from . import timeline as plans

        timeline.sources.register(plans.SOURCE)
        events.recorded.connect(triggers.on_events)
        consent.withdrawn.connect(lifecycle.cancel_retries)
        outcomes.start_rule.connect(lifecycle.start_rule)
