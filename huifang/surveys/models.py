"""Questionnaires, their versions, and what respondents answered.

A response is pinned to the version it was answered on, so results read each answer against
the questions the respondent saw. ``Answer`` repeats each answered question as a row of its
own, so results are counted in SQL rather than by reading every response's JSON.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from huifang.core.models import TimeStampedModel, Version
from huifang.customers.models import Channel, Customer

# An option's value is at most this long (``document.Option``): ``Answer.choice`` holds it.
CHOICE_LENGTH = 80


class Survey(TimeStampedModel):
    """A questionnaire (问卷): a key, a status, and the version that is sent out."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        ARCHIVED = "archived", _("Archived")

    key = models.SlugField(_("key"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=100)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    current_version = models.ForeignKey(
        "SurveyVersion",
        verbose_name=_("current version"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["key"]
        verbose_name = _("questionnaire")
        verbose_name_plural = _("questionnaires")

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    def latest_version(self) -> SurveyVersion | None:
        return self.versions.order_by("-number").first()


class SurveyVersion(Version):
    """One saved state of a questionnaire. Never changed once written: responses are read
    against the questions of the version they were given on."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="versions")
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta(Version.Meta):
        ordering = ["survey", "-number"]
        verbose_name = _("questionnaire version")
        verbose_name_plural = _("questionnaire versions")
        constraints = [
            models.UniqueConstraint(fields=["survey", "number"], name="survey_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.survey.key} v{self.number}"


class Response(models.Model):
    """One respondent's answers (答卷) to one version, kept from the first answer on; submitted
    when ``submitted_at`` is set. Messages and tasks live in the layers above, so they are
    referred to by id."""

    version = models.ForeignKey(
        SurveyVersion,
        verbose_name=_("questionnaire version"),
        on_delete=models.PROTECT,
        related_name="responses",
    )
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="survey_responses",
    )
    channel = models.CharField(_("channel"), max_length=16, blank=True, choices=Channel.choices)
    message_id = models.BigIntegerField(_("message"), null=True, blank=True)
    task_id = models.BigIntegerField(_("task"), null=True, blank=True)
    rule_id = models.BigIntegerField(_("rule"), null=True, blank=True)
    team_id = models.BigIntegerField(_("team"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    answers = models.JSONField(_("answers"), default=dict, blank=True)
    csat = models.PositiveSmallIntegerField(_("CSAT"), null=True, blank=True)
    nps = models.PositiveSmallIntegerField(_("NPS"), null=True, blank=True)
    ces = models.PositiveSmallIntegerField(_("CES"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        indexes = [
            models.Index(fields=["version", "submitted_at"], name="survey_response_results"),
            # The results' response-level figures (totals, trend, cuts) read only this index
            # on PostgreSQL (an index-only scan: no visit to the wide rows with their JSON).
            models.Index(
                fields=["version", "submitted_at"],
                include=["channel", "rule_id", "team_id", "customer", "csat", "nps", "ces"],
                name="survey_response_figures",
            ),
            # The results' "opened": responses started in the period.
            models.Index(fields=["version", "started_at"], name="survey_response_opened"),
            # The cockpit's detractors who still need a call: a period's submitted NPS 0–6
            # responses, whatever the questionnaire (few rows; read by time).
            models.Index(
                fields=["submitted_at"],
                condition=models.Q(nps__lte=6),
                name="survey_response_detractors",
            ),
            # The detractors who still need a call, worst first (analytics ``detractors``):
            # read in the order shown, so a page stops at its last row whatever the period.
            models.Index(
                fields=["nps", "submitted_at", "id"],
                condition=models.Q(nps__lte=6),
                name="response_detractor_order",
            ),
            # The analytics rollups redo a day at a time (analytics/rollup.py): the responses
            # opened and submitted on the day, of every version, without reading the table.
            models.Index(fields=["started_at"], name="response_started_day_idx"),
            models.Index(
                fields=["submitted_at"],
                name="response_submitted_day_idx",
                condition=models.Q(submitted_at__isnull=False),
            ),
        ]
        constraints = [
            # One response per personal link (version, customer, message); the answer page
            # continues it on every visit. Phone responses carry no message.
            models.UniqueConstraint(
                fields=["version", "customer", "message_id"],
                condition=models.Q(message_id__isnull=False),
                name="survey_response_one_per_message",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version} #{self.pk}"


class Answer(models.Model):
    """One answered question of a response, with its number when the answer is one (a score,
    a rating), for averages and shares counted in SQL.

    ``submitted_at`` repeats the response's (set when it is submitted), so that the results
    read a period's answers through an index of their own rather than joining every answer of
    the version to the period's responses; ``choice`` repeats a short string answer (an
    option's value), so that option counts need not read the JSON."""

    response = models.ForeignKey(
        Response, verbose_name=_("response"), on_delete=models.CASCADE, related_name="rows"
    )
    version = models.ForeignKey(
        SurveyVersion,
        verbose_name=_("questionnaire version"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    question = models.CharField(_("question"), max_length=50)
    value = models.JSONField(_("answer"))
    number = models.FloatField(_("number"), null=True, blank=True)
    choice = models.CharField(_("choice"), max_length=CHOICE_LENGTH, null=True, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        constraints = [
            models.UniqueConstraint(
                fields=["response", "question"], name="survey_answer_one_per_question"
            ),
        ]
        indexes = [
            models.Index(fields=["version", "question"], name="survey_answer_results"),
            # A period's answers; on PostgreSQL the per-question counts read only this index.
            models.Index(
                fields=["version", "submitted_at"],
                include=["question", "number", "choice"],
                name="survey_answer_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.response_id}: {self.question}"


class AnswerTag(models.Model):
    """A staff member's label on a text answer (``退款``, ``物流慢``), so that the free-text
    answers of a questionnaire can be sorted into themes and counted on the results page."""

    answer = models.ForeignKey(
        Answer, verbose_name=_("answer"), on_delete=models.CASCADE, related_name="tags"
    )
    name = models.CharField(_("tag"), max_length=40)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.CharField(_("created by"), max_length=150, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("answer tag")
        verbose_name_plural = _("answer tags")
        constraints = [
            models.UniqueConstraint(fields=["answer", "name"], name="survey_answer_tag_unique"),
        ]
        indexes = [models.Index(fields=["name", "answer"], name="survey_answer_tag_name")]

    def __str__(self) -> str:
        return self.name
