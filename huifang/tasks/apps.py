from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TasksConfig(AppConfig):
    name = "huifang.tasks"
    label = "tasks"
    verbose_name = _("Follow-up tasks")

    def ready(self) -> None:
        # Imported here, not at the top: models can be imported only once the app registry is
        # ready (Django's rule for AppConfig.ready()).
        from huifang.customers import timeline, visibility

        from . import access, assignment, event_types
        from . import timeline as tasks

        event_types.register()
        event_types.register_properties()
        assignment.register_builtin_strategies()
        timeline.sources.register(tasks.SOURCE)
        timeline.redact.connect(tasks.hide_unseen_notes)
        visibility.scope.provide(access.customer_scope)
