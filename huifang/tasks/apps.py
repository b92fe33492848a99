from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TasksConfig(AppConfig):
    name = "huifang.tasks"
    label = "tasks"
    verbose_name = _("Follow-up tasks")

    def ready(self) -> None:
        from . import assignment, event_types

        event_types.register()
        assignment.register_builtin_strategies()
