from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    name = "huifang.surveys"
    label = "surveys"
    verbose_name = _("Questionnaires")

    def ready(self) -> None:
        # A rule naming a questionnaire is saved only when it exists (rules sit below
        # surveys and never import it: they call this hook).
        from huifang.customers import timeline
        from huifang.rules.document import references

        from . import timeline as answers
        from .services import check_rule_surveys

        references.connect(check_rule_surveys)
        timeline.sources.register(answers.SOURCE)
        answers.register_properties()
