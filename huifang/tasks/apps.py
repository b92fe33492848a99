from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TasksConfig(AppConfig):
    name = "huifang.tasks"
    label = "tasks"
    verbose_name = _("Follow-up tasks")

    def ready(self) -> None:
        # Imported here, not at the top: models can be imported only once the app registry is
        # ready (Django's rule for AppConfig.ready()).
        from huifang.accounts import staff
        from huifang.customers import timeline, visibility

        from . import access, assignment, event_types, services
        from . import timeline as tasks

        event_types.register()
        event_types.register_properties()
        assignment.register_builtin_strategies()
        timeline.sources.register(tasks.SOURCE)
        timeline.redact.connect(tasks.hide_unseen_notes)
        visibility.scope.provide(access.customer_scope)
        # The staff pages show each person's open tasks (accounts sit below tasks).
        staff.open_work.provide(staff.OpenWork(counts=services.open_counts))
