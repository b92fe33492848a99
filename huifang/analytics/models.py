"""Daily rollups (每日汇总): the figures every report reads, one row per day and dimension values.

Dashboards never scan the outbox, the tasks or the answers; they sum these rows. Each count is
attributed to the organisation-local day of its own timestamp (a message sent on the 3rd and
delivered on the 4th is "sent" on the 3rd and "delivered" on the 4th), so a late update lands
in the day it belongs to. The rows are rewritten a whole day at a time (``rollup``), which is
why they carry no unique constraint: a day is deleted and inserted again in one transaction.

Dimensions are read from the source rows and from the customer as they are when the day is
aggregated (a customer's current tier and region), not as they were on the day.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class DayCut(models.Model):
    """A day's figures of a rollup summed by one dimension (a cut), kept by team.

    The daily rollups carry every dimension at once, so a year of ``MessageDay`` may hold
    millions of rows; a page reads a period's totals, its trend, or a breakdown by one
    dimension, in a reader's teams. The cut tables (``MessageDayBy`` …) hold what those read:
    each day's sums per team (``cut`` empty, ``value`` empty), and per team and value of each
    dimension the rollup has (``cut`` a key of ``kpis.DIMENSIONS``, ``value`` the dimension's
    value as text, NULL for a NULL id) — a few thousand rows a day whatever the traffic. They
    are written with their rollup's day, from its rows (``rollup.cut_day``); ``kpis`` reads
    them when they can answer (``kpis.cut_of``).

    Rows with ``month`` set hold a whole month's sums (``day`` its first day), summed from its
    days' rows after they are written (``rollup.cut_months``): a year's page reads twelve
    months of them, and days only at the period's ragged ends (``kpis.days_of``)."""

    day = models.DateField(_("day"))
    month = models.BooleanField(_("whole month"), default=False)
    cut = models.CharField(_("cut"), max_length=20)
    team_id = models.BigIntegerField(_("team"), null=True)
    value = models.CharField(_("value"), max_length=64, null=True)

    class Meta:
        abstract = True
        # A period's whole months and its ragged-end days are each one range of these.
        indexes = [
            models.Index(fields=["cut", "month", "day"], name="%(class)s_cut_idx"),
            models.Index(fields=["team_id", "cut", "month", "day"], name="%(class)s_team_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.cut} {self.value} team {self.team_id}"


class MessageMeasures(models.Model):
    """The counts of a day's customer messages: of ``MessageDay`` and of its cuts
    ``MessageDayBy``.

    Plain integers, unlike the other rollups' ``PositiveIntegerField``: its CHECK per column is
    evaluated for each row written, and these rows run to millions — twenty checks a row cost
    ~12 % of a day's rewrite at 10 M messages (bench/analytics.py; migration 0010). A sum of
    ones and zeros is never negative, and the tests hold every count to the raw rows."""

    created = models.IntegerField(_("created"), default=0)  # created_at
    queued = models.IntegerField(_("released"), default=0)  # queued_at
    sent = models.IntegerField(_("sent"), default=0)  # sent_at
    delivered = models.IntegerField(_("delivered"), default=0)  # delivered_at
    failed = models.IntegerField(_("failed"), default=0)  # sent_at, else created_at
    dropped = models.IntegerField(_("dropped"), default=0)  # planned_at
    held = models.IntegerField(_("held"), default=0)  # planned_at, holds > 0
    # The gate's holds by reason: every ``defer`` decision of a message, on the day the message
    # was written (``created_at``, as the rule dashboard counts them), on rows with its reason.
    holds = models.IntegerField(_("holds"), default=0)
    clicked = models.IntegerField(_("clicked"), default=0)  # first click
    replied = models.IntegerField(_("replied"), default=0)  # first reply
    surveys = models.IntegerField(_("questionnaire links sent"), default=0)  # sent_at
    # Cohorts (docs/metrics.md): of the messages counted above on their own day, what became
    # of them since — on the day of ``sent_at`` (``created_reached``: of ``created_at``).
    sent_links = models.IntegerField(_("sent with links"), default=0)
    sent_delivered = models.IntegerField(_("sent, delivered since"), default=0)
    sent_failed = models.IntegerField(_("sent, failed since"), default=0)
    sent_clicked = models.IntegerField(_("sent with links, clicked since"), default=0)
    sent_replyable = models.IntegerField(_("sent on a channel taking replies"), default=0)
    sent_replied = models.IntegerField(_("sent, replied to since"), default=0)
    survey_opened = models.IntegerField(_("questionnaire links opened"), default=0)
    survey_answered = models.IntegerField(_("questionnaire links answered"), default=0)
    created_reached = models.IntegerField(_("created, reached since"), default=0)

    class Meta:
        abstract = True


class TaskMeasures(models.Model):
    """The counts of a day's follow-up tasks: of ``TaskDay`` and of its cuts ``TaskDayBy``."""

    opened = models.PositiveIntegerField(_("opened"), default=0)
    done = models.PositiveIntegerField(_("done"), default=0)
    # On time as on the team board: done by the SLA deadline, among done tasks that had one.
    with_due = models.PositiveIntegerField(_("done with a deadline"), default=0)
    on_time = models.PositiveIntegerField(_("done on time"), default=0)
    cancelled = models.PositiveIntegerField(_("cancelled"), default=0)
    reached = models.PositiveIntegerField(_("reached"), default=0)
    not_reached = models.PositiveIntegerField(_("not reached"), default=0)
    # Handling time: started → closed, of done tasks that were started.
    handled = models.PositiveIntegerField(_("handled"), default=0)
    handling_seconds = models.BigIntegerField(_("handling seconds"), default=0)
    # Cohorts of the tasks opened on the day (``created_at``): what became of them since.
    created_done = models.PositiveIntegerField(_("opened, done since"), default=0)
    created_cancelled = models.PositiveIntegerField(_("opened, cancelled since"), default=0)
    created_reached = models.PositiveIntegerField(_("opened, reached since"), default=0)
    # Of the tasks closed on the day with the customer reached (``reached``):
    first_contact = models.PositiveIntegerField(_("resolved at the first contact"), default=0)
    converted_7 = models.PositiveIntegerField(_("bought within 7 days"), default=0)
    converted_30 = models.PositiveIntegerField(_("bought within 30 days"), default=0)
    converted_90 = models.PositiveIntegerField(_("bought within 90 days"), default=0)
    # The satisfaction the agent recorded on the outcome (``Task.score``, 1–5), by closed_at.
    scored = models.PositiveIntegerField(_("agent-recorded scores"), default=0)
    scored_ok = models.PositiveIntegerField(_("agent-recorded scores 4–5"), default=0)
    # The conversion baseline (docs/metrics.md §12), by closed_at: the tasks closed without
    # reaching the customer (no outcome, or ``not_reached``: never answered, or cancelled before
    # any contact), and those of them followed by a purchase within 7, 30, 90 days.
    baseline_pool = models.PositiveIntegerField(_("closed, customer never reached"), default=0)
    baseline_converted_7 = models.PositiveIntegerField(
        _("never reached, bought within 7 days"), default=0
    )
    baseline_converted_30 = models.PositiveIntegerField(
        _("never reached, bought within 30 days"), default=0
    )
    baseline_converted_90 = models.PositiveIntegerField(
        _("never reached, bought within 90 days"), default=0
    )

    class Meta:
        abstract = True


class AnswerMeasures(models.Model):
    """The counts of a day's questionnaire responses: of ``AnswerDay`` and of its cuts
    ``AnswerDayBy``."""

    opened = models.PositiveIntegerField(_("opened"), default=0)
    answered = models.PositiveIntegerField(_("answered"), default=0)
    csat_n = models.PositiveIntegerField(_("CSAT answers"), default=0)
    csat_ok = models.PositiveIntegerField(_("CSAT 4–5"), default=0)
    nps_n = models.PositiveIntegerField(_("NPS answers"), default=0)
    promoters = models.PositiveIntegerField(_("promoters"), default=0)
    detractors = models.PositiveIntegerField(_("detractors"), default=0)
    ces_n = models.PositiveIntegerField(_("CES answers"), default=0)
    ces_sum = models.PositiveIntegerField(_("CES sum"), default=0)

    class Meta:
        abstract = True


class EventMeasures(models.Model):
    """The counts of a day's complaints and purchases: of ``EventDay`` and of its cuts
    ``EventDayBy``."""

    complaints = models.PositiveIntegerField(_("complaints"), default=0)
    # A complaint whose customer complained in the 30 days before it too.
    repeat_complaints = models.PositiveIntegerField(_("repeat complaints"), default=0)
    purchases = models.PositiveIntegerField(_("purchases"), default=0)

    class Meta:
        abstract = True


class MessageDay(MessageMeasures):
    """Customer messages of one day (staff messages, which have no customer, are left out).

    ``reason`` is set only on rows counting ``dropped`` or ``holds``: the drops and holds by
    reason; every other count sits on rows whose reason is empty."""

    day = models.DateField(_("day"))
    rule_id = models.BigIntegerField(_("rule"), null=True)
    step = models.CharField(_("step"), max_length=50)
    channel = models.CharField(_("channel"), max_length=16)
    provider_id = models.BigIntegerField(_("provider"), null=True)
    team_id = models.BigIntegerField(_("team"), null=True)  # of the customer's owner
    province = models.CharField(_("province"), max_length=32)
    city = models.CharField(_("city"), max_length=32)
    business_line = models.CharField(_("business line"), max_length=64)
    tier = models.CharField(_("tier"), max_length=16)
    source = models.CharField(_("customer source"), max_length=64, default="")
    lifecycle_stage = models.CharField(_("lifecycle stage"), max_length=16, default="")
    product_category = models.CharField(_("product category"), max_length=64, default="")
    owner_id = models.BigIntegerField(_("customer owner"), null=True)  # the customer's, today
    reason = models.CharField(_("reason"), max_length=20)
    # The messages' id block (``id // rollup.BLOCK``): a day's rows are kept per block, so the
    # refresh rewrites only the blocks of the messages that changed, not their whole day.
    # NULL on rows written before blocks (a day holding such rows is rewritten whole).
    block = models.BigIntegerField(_("id block"), null=True)

    class Meta:
        verbose_name = _("messages of a day")
        verbose_name_plural = _("messages by day")
        # Only the day's (and its blocks'): the pages read the cut tables (``MessageDayBy``),
        # and these rows only for two dimensions at once, which no page asks. The indexes by
        # rule, team, channel, provider and region were never read and cost 17 % of a day's
        # rewrite at 10 M messages (bench/analytics.py; migration 0010).
        indexes = [models.Index(fields=["day", "block"], name="messageday_block_idx")]

    def __str__(self) -> str:
        return f"{self.day} rule {self.rule_id} {self.channel}"


class TaskDay(TaskMeasures):
    """Follow-up tasks of one day: opened by ``created_at``; done, cancelled and the outcomes
    of closed tasks by ``closed_at``."""

    day = models.DateField(_("day"))
    team_id = models.BigIntegerField(_("team"), null=True)
    assignee_id = models.BigIntegerField(_("assignee"), null=True)
    rule_id = models.BigIntegerField(_("rule"), null=True)
    step = models.CharField(_("step"), max_length=50)

    class Meta:
        verbose_name = _("tasks of a day")
        verbose_name_plural = _("tasks by day")
        indexes = [
            models.Index(fields=["day"], name="taskday_day_idx"),
            models.Index(fields=["team_id", "day"], name="taskday_team_idx"),
            models.Index(fields=["assignee_id", "day"], name="taskday_assignee_idx"),
            models.Index(fields=["rule_id", "day"], name="taskday_rule_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} team {self.team_id} agent {self.assignee_id}"


class AnswerDay(AnswerMeasures):
    """Questionnaire responses of one day: opened by ``started_at``, answered and their scores
    by ``submitted_at``."""

    day = models.DateField(_("day"))
    version_id = models.BigIntegerField(_("questionnaire version"))
    channel = models.CharField(_("channel"), max_length=16)
    rule_id = models.BigIntegerField(_("rule"), null=True)
    team_id = models.BigIntegerField(_("team"), null=True)
    province = models.CharField(_("province"), max_length=32)
    city = models.CharField(_("city"), max_length=32)

    class Meta:
        verbose_name = _("answers of a day")
        verbose_name_plural = _("answers by day")
        indexes = [
            models.Index(fields=["day"], name="answerday_day_idx"),
            models.Index(fields=["version_id", "day"], name="answerday_version_idx"),
            models.Index(fields=["rule_id", "day"], name="answerday_rule_idx"),
            models.Index(fields=["team_id", "day"], name="answerday_team_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} version {self.version_id}"


class EventDay(EventMeasures):
    """Complaints and purchases of one day (``Event.occurred_at``), by the customer's
    dimensions as they are today; ``team_id`` is the team of the customer's owner."""

    day = models.DateField(_("day"))
    team_id = models.BigIntegerField(_("team"), null=True)
    owner_id = models.BigIntegerField(_("customer owner"), null=True)
    province = models.CharField(_("province"), max_length=32)
    city = models.CharField(_("city"), max_length=32)
    business_line = models.CharField(_("business line"), max_length=64)
    tier = models.CharField(_("tier"), max_length=16)
    source = models.CharField(_("customer source"), max_length=64)
    lifecycle_stage = models.CharField(_("lifecycle stage"), max_length=16)
    product_category = models.CharField(_("product category"), max_length=64)

    class Meta:
        verbose_name = _("events of a day")
        verbose_name_plural = _("events by day")
        indexes = [
            models.Index(fields=["day"], name="eventday_day_idx"),
            models.Index(fields=["team_id", "day"], name="eventday_team_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} team {self.team_id}"


class MessageDayBy(DayCut, MessageMeasures):
    """``MessageDay`` summed by team and one dimension (``DayCut``), a day's rows by the id
    block of the messages' rows they sum (the refresh rewrites a block's; NULL on whole-month
    rows and on rows written before blocks)."""

    block = models.BigIntegerField(_("id block"), null=True)

    class Meta(DayCut.Meta):
        verbose_name = _("messages of a day, by team and one dimension")
        verbose_name_plural = _("messages by day, team and one dimension")


class TaskDayBy(DayCut, TaskMeasures):
    """``TaskDay`` summed by team and one dimension (``DayCut``)."""

    class Meta(DayCut.Meta):
        verbose_name = _("tasks of a day, by team and one dimension")
        verbose_name_plural = _("tasks by day, team and one dimension")


class AnswerDayBy(DayCut, AnswerMeasures):
    """``AnswerDay`` summed by team and one dimension (``DayCut``)."""

    class Meta(DayCut.Meta):
        verbose_name = _("answers of a day, by team and one dimension")
        verbose_name_plural = _("answers by day, team and one dimension")


class EventDayBy(DayCut, EventMeasures):
    """``EventDay`` summed by team and one dimension (``DayCut``)."""

    class Meta(DayCut.Meta):
        verbose_name = _("events of a day, by team and one dimension")
        verbose_name_plural = _("events by day, team and one dimension")


class AnswerCutDay(models.Model):
    """The scores of ``AnswerDay`` summed per questionnaire version and day, once in total
    (``cut`` "all") and once by each single dimension the results page cuts by (``cut``
    "rule", "team", "channel" or "region"; the other dimensions empty): what an unfiltered view
    of a questionnaire's results reads — a few hundred rows a day whatever the number of
    responses, where ``AnswerDay`` may hold nearly a row per response."""

    day = models.DateField(_("day"))
    version_id = models.BigIntegerField(_("questionnaire version"))
    cut = models.CharField(_("cut"), max_length=8)
    rule_id = models.BigIntegerField(_("rule"), null=True)
    team_id = models.BigIntegerField(_("team"), null=True)
    channel = models.CharField(_("channel"), max_length=16)
    province = models.CharField(_("province"), max_length=32)
    city = models.CharField(_("city"), max_length=32)
    answered = models.PositiveIntegerField(_("answered"), default=0)
    csat_n = models.PositiveIntegerField(_("CSAT answers"), default=0)
    csat_ok = models.PositiveIntegerField(_("CSAT 4–5"), default=0)
    nps_n = models.PositiveIntegerField(_("NPS answers"), default=0)
    promoters = models.PositiveIntegerField(_("promoters"), default=0)
    detractors = models.PositiveIntegerField(_("detractors"), default=0)
    ces_n = models.PositiveIntegerField(_("CES answers"), default=0)
    ces_sum = models.PositiveIntegerField(_("CES sum"), default=0)

    class Meta:
        verbose_name = _("answers of a day, by one dimension")
        verbose_name_plural = _("answers by day and one dimension")
        indexes = [
            models.Index(fields=["day"], name="answercutday_day_idx"),
            models.Index(fields=["version_id", "cut", "day"], name="answercutday_version_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} version {self.version_id} {self.cut}"


class EnrollmentDay(models.Model):
    """Enrollments of rules (策略入组) of one day: entered by ``started_at``; finished by
    ``ended_at``, with the status and reason they ended with.

    ``status`` and ``reason`` are set only on rows counting ``finished``; rows counting
    ``entered`` carry empty ones. ``step`` is the step the enrollment is at (ended at) when the
    day is rolled up."""

    day = models.DateField(_("day"))
    rule_id = models.BigIntegerField(_("rule"))
    version_id = models.BigIntegerField(_("rule version"))
    step = models.CharField(_("step"), max_length=50)
    status = models.CharField(_("status"), max_length=10)
    reason = models.CharField(_("reason"), max_length=40)
    entered = models.PositiveIntegerField(_("entered"), default=0)  # started_at
    finished = models.PositiveIntegerField(_("finished"), default=0)  # ended_at

    class Meta:
        verbose_name = _("enrollments of a day")
        verbose_name_plural = _("enrollments by day")
        indexes = [
            models.Index(fields=["day"], name="enrollmentday_day_idx"),
            models.Index(fields=["rule_id", "day"], name="enrollmentday_rule_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} rule {self.rule_id}"


class RuleStepDay(models.Model):
    """What the rule dashboard reads of a rule's messages and tasks, one row per rule, step and
    channel a day (a few hundred rows a day, however many customers): messages sent
    (``sent_at``) and delivered (``delivered_at``); messages answered, on the day of their first
    answer — the first event of a reply type (``EventType.is_reply``: a reply, a questionnaire
    answered through its link) from the message's own customer naming it in
    ``properties.message``; and tasks done (``closed_at``; their channel is empty)."""

    day = models.DateField(_("day"))
    rule_id = models.BigIntegerField(_("rule"))
    step = models.CharField(_("step"), max_length=50)
    channel = models.CharField(_("channel"), max_length=16)
    sent = models.PositiveIntegerField(_("sent"), default=0)
    delivered = models.PositiveIntegerField(_("delivered"), default=0)
    replied = models.PositiveIntegerField(_("replied"), default=0)
    tasks_done = models.PositiveIntegerField(_("tasks done"), default=0)
    # The rows of sent and delivered are kept by the messages' id block (``MessageDay.block``);
    # those of answers and tasks have none (nor have rows written before blocks).
    block = models.BigIntegerField(_("id block"), null=True)

    class Meta:
        verbose_name = _("a rule's step of a day")
        verbose_name_plural = _("rules' steps by day")
        indexes = [
            models.Index(fields=["day"], name="rulestepday_day_idx"),
            models.Index(fields=["rule_id", "day"], name="rulestepday_rule_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} rule {self.rule_id} {self.step}"


class DecisionDay(models.Model):
    """The gate's holds (``defer``) and drops of rules' messages, by reason, on the day the
    message was written (``created_at``): every decision in a message's ``decisions``, however
    many times it was held."""

    day = models.DateField(_("day"))
    rule_id = models.BigIntegerField(_("rule"))
    step = models.CharField(_("step"), max_length=50)
    action = models.CharField(_("action"), max_length=10)
    reason = models.CharField(_("reason"), max_length=40)
    decisions = models.PositiveIntegerField(_("decisions"), default=0)
    block = models.BigIntegerField(_("id block"), null=True)  # the messages' (``MessageDay``)

    class Meta:
        verbose_name = _("gate decisions of a day")
        verbose_name_plural = _("gate decisions by day")
        indexes = [
            models.Index(fields=["day"], name="decisionday_day_idx"),
            models.Index(fields=["rule_id", "day"], name="decisionday_rule_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} rule {self.rule_id} {self.action} {self.reason}"


class Watermark(models.Model):
    """How far the periodic refresh has read: the last id of each source it has seen, and the
    moment of the last refresh (``source`` "refresh")."""

    source = models.CharField(_("source"), max_length=20, unique=True)
    last_id = models.BigIntegerField(_("last id"), default=0)
    at = models.DateTimeField(_("at"), null=True)

    class Meta:
        verbose_name = _("rollup watermark")
        verbose_name_plural = _("rollup watermarks")

    def __str__(self) -> str:
        return f"{self.source}: {self.last_id}"


class ReportSchedule(models.Model):
    """A report e-mailed at 08:00 organisation time: yesterday's, last week's (Monday to
    Sunday) or last month's figures, in the recipient's scope (``huifang.analytics.schedules``).
    ``tables`` lists what it holds: "totals", "trend" and dimensions of ``kpis.DIMENSIONS``."""

    class Frequency(models.TextChoices):
        DAILY = "daily", _("Daily")
        WEEKLY = "weekly", _("Weekly (Monday to Sunday)")
        MONTHLY = "monthly", _("Monthly")

    name = models.CharField(_("name"), max_length=100)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="report_schedules",
        verbose_name=_("recipient"),
    )
    frequency = models.CharField(_("frequency"), max_length=8, choices=Frequency.choices)
    tables = models.JSONField(_("tables"), default=list)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"))
    last_sent_at = models.DateTimeField(_("last sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)

    class Meta:
        verbose_name = _("scheduled report")
        verbose_name_plural = _("scheduled reports")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class ReportDelivery(models.Model):
    """One report of a schedule for one period: the row is claimed before the mail goes out,
    and its unique key is what keeps two workers from sending the same report twice. A send
    that failed removes its claim, so the next run tries again."""

    class Status(models.TextChoices):
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")

    schedule = models.ForeignKey(ReportSchedule, models.CASCADE, related_name="deliveries")
    period_first = models.DateField(_("first day"))
    period_last = models.DateField(_("last day"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices)
    claimed_at = models.DateTimeField(_("claimed at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    reference = models.CharField(_("message id"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("report delivery")
        verbose_name_plural = _("report deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "period_first"], name="report_delivery_once_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id} {self.period_first}–{self.period_last} {self.status}"
