"""What the dispatcher does to a claimed batch before anything leaves: the last look.

For each queued message, with a handful of queries for the whole batch:

- **the gate once more** (``gate.Gate``, the engine's own, DESIGN.md invariants 1 and 4): the
  queue may have waited — a worker was down, a retry was backing off — so the message is
  dropped as ``missed`` when the dispatcher reaches it later than its rule's misfire grace after
  ``ready_at`` (when the gate released it, or when a hold or a retry's back-off ended);
  do-not-contact, consent and the address are checked again on the message's channel (dropped
  with the reason); quiet hours and excluded days in the customer's zone hold it until the next
  allowed minute; and its rule's frequency caps are counted again against what has gone or is
  going, and what this batch lets through, so a backlog cannot burst past a cap (held until the
  cap allows, or dropped when the rule says so). A message of no rule (a transactional test
  send) has the organisation's quiet hours, no caps and no grace; staff messages have no gate;
- **the provider**: the enabled provider serving the channel with the lowest priority (the
  ``log`` transport when there is none, or in a dry run); a provider with a rate limit (robots:
  20 a minute) takes what its last minute leaves room for, the rest is held, never dropped;
- **the text**: rendered once, with the template's current version, which the message then
  keeps (a retry sends the same text); the links the template wrote become short links. A
  message that carries a questionnaire (``survey_version``) links to it personally: its
  signed link (``surveys.links.link_for``) is the message's first short link, which
  ``{{问卷链接}}`` and ``{{回访链接}}`` write — about 45 characters instead of about 120, which
  would cost a Chinese SMS two more parts. A text asking for a questionnaire link that the
  message does not carry is dropped (``no_survey``), never sent with an empty link.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from huifang.core import rows
from huifang.customers.models import Channel, Customer, Event
from huifang.integrations import is_dry_run
from huifang.integrations.base import Outgoing
from huifang.integrations.kinds import STAFF
from huifang.integrations.models import Provider
from huifang.messaging.gate import ADDRESS, DEFER, DROP, Gate, cap_window
from huifang.organisation.services import base_url
from huifang.organisation.services import current as organisation
from huifang.rules.plans import Plan, plan
from huifang.surveys.links import link_for
from huifang.surveys.models import SurveyVersion

from . import links, unsubscribe
from .models import Attempt, Message, MessageTemplate, Reason, TemplateVersion
from .rendering import Context, TemplateError, names_used, render

MESSAGES, ATTEMPTS = Message._meta.db_table, Attempt._meta.db_table
# The plan a message belongs to, through the message's own relation (the engine, which owns
# enrollments, sits above messaging: its table is named by the relation, never imported).
ENROLLMENTS = Message._meta.get_field("enrollment").related_model._meta.db_table

COLUMNS = (
    'id, customer_id, enrollment_id, channel, template, transactional, "to", provider_id, '
    "body, subject, links, template_version_id, attempts, decisions, holds, ready_at, "
    "survey_version_id"
)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@dataclass(slots=True)
class Job:
    """A claimed message as the dispatcher handles it (plain values, no model instance)."""

    pk: int
    customer_id: int | None
    enrollment_id: int | None
    channel: str
    template: str
    transactional: bool
    to: str
    provider_id: int | None
    body: str
    subject: str
    links: list[str]
    version_id: int | None
    attempts: int
    decisions: list[dict[str, Any]]
    holds: int
    ready_at: datetime | None
    survey_version_id: int | None = None
    provider: Provider | None = None
    outgoing: Outgoing | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Job:
        pk, customer, enrollment, channel, template, transactional, to, provider = row[:8]
        body, subject, found_links, version, attempts, decisions, holds, ready, survey = row[8:]
        return cls(
            pk, customer, enrollment, channel, template, bool(transactional), to, provider,
            body, subject, _json(found_links) or [], version, attempts, _json(decisions) or [],
            holds, rows.from_db_time(ready), survey,
        )  # fmt: skip

    @property
    def channels(self) -> list[str]:
        """The gate looks at the channel the engine chose, the one its text is rendered for."""
        return [self.channel]

    @property
    def transport_key(self) -> str:
        return self.provider.kind if self.provider else "log"


@dataclass
class Verdict:
    """What the last look decided for one message."""

    send: list[Job] = field(default_factory=list)
    hold: list[tuple[Job, datetime, str]] = field(default_factory=list)  # until, reason
    drop: list[tuple[Job, str]] = field(default_factory=list)  # reason
    fail: list[tuple[Job, str]] = field(default_factory=list)  # error


class Providers:
    """The enabled providers, read once per batch (a handful of rows)."""

    def __init__(self) -> None:
        self.by_id: dict[int, Provider] = {}
        self.by_channel: dict[str, Provider] = {}
        if is_dry_run():
            return
        for provider in Provider.objects.filter(enabled=True).order_by("priority", "id"):
            self.by_id[provider.pk] = provider
            self.by_channel.setdefault(provider.channel, provider)

    def for_job(self, job: Job) -> Provider | None:
        if job.provider_id is not None:
            return self.by_id.get(job.provider_id)
        return self.by_channel.get(job.channel)


class Preparation:
    def __init__(self, now: datetime, *, gate: bool = True) -> None:
        self.now = now
        self.gate = gate
        self.providers = Providers()
        self.customers: dict[int, Customer] = {}
        self.contact = Gate(now)
        self.enrollments: dict[int, tuple[int | None, int]] = {}  # id -> (event, version)
        self.events: dict[int, Event] = {}
        self.versions: dict[tuple[str, str], TemplateVersion] = {}
        self.pinned: dict[int, TemplateVersion] = {}
        self.surveys: dict[int, SurveyVersion] = {}
        self.params: dict[int, dict[str, str]] = {}  # provider template variables

    def run(self, jobs: Sequence[Job]) -> Verdict:
        self.load(jobs)
        verdict = Verdict()
        budgets = self.budgets(jobs)
        for job in jobs:
            self.decide(job, verdict, budgets)
        return verdict

    def decide(self, job: Job, verdict: Verdict, budgets: dict[int, list[datetime]]) -> None:
        customer = self.customers.get(job.customer_id) if job.customer_id else None
        if job.customer_id is not None:
            if customer is None:
                verdict.drop.append((job, Reason.NO_ADDRESS))
                return
            if self.gate and not self.look(job, verdict):
                return
        job.provider = self.providers.for_job(job)
        if job.provider is not None and job.provider.pk in budgets:
            window = budgets[job.provider.pk]
            if len(window) >= (job.provider.limit or 0):
                verdict.hold.append((job, window[0] + timedelta(minutes=1), Reason.RATE_LIMIT))
                return
            window.append(self.now)
        try:
            job.outgoing = self.outgoing(job, customer)
        except _NoTemplate:
            verdict.drop.append((job, Reason.NO_TEMPLATE))
            return
        except _NoSurvey:
            verdict.drop.append((job, Reason.NO_SURVEY))
            return
        except TemplateError as exc:
            verdict.fail.append((job, str(exc)))
            return
        verdict.send.append(job)
        if self.gate and job.customer_id is not None:
            # It goes: it counts towards the caps of the customer's later messages.
            self.contact.sent(job.customer_id, job.channel)

    # -- loading ---------------------------------------------------------------------------

    def load(self, jobs: Sequence[Job]) -> None:
        customer_ids = sorted({j.customer_id for j in jobs if j.customer_id is not None})
        if customer_ids:
            self.customers = Customer.objects.in_bulk(customer_ids)
        enrollment_ids = sorted({j.enrollment_id for j in jobs if j.enrollment_id is not None})
        if enrollment_ids:
            where, params = rows.id_in("id", enrollment_ids)
            for pk, event_id, version_id in rows.fetch(
                f"SELECT id, event_id, version_id FROM {ENROLLMENTS} WHERE {where}",  # noqa: S608
                params,
            ):
                self.enrollments[pk] = (event_id, version_id)
            event_ids = {e for e, _v in self.enrollments.values() if e is not None}
            if event_ids and any(not j.body for j in jobs):
                self.events = Event.objects.in_bulk(sorted(event_ids))
        if self.gate and customer_ids:
            plans = (self.plan_of(j) for j in jobs if j.customer_id is not None)
            window = cap_window(p for p in plans if p is not None)
            self.contact.load(customer_ids, window, counted=Message.GONE, known=self.customers)
        self.load_templates(jobs)

    def load_templates(self, jobs: Sequence[Job]) -> None:
        pinned = {j.version_id for j in jobs if j.version_id is not None and not j.body}
        if pinned:
            self.pinned = TemplateVersion.objects.in_bulk(sorted(pinned))
        surveys = {j.survey_version_id for j in jobs if j.survey_version_id and not j.body}
        if surveys:
            self.surveys = SurveyVersion.objects.in_bulk(sorted(surveys))
        keys = {j.template for j in jobs if not j.body and j.version_id is None}
        if keys:
            for template in MessageTemplate.objects.filter(key__in=keys).select_related(
                "current_version"
            ):
                if template.current_version is not None:
                    self.versions[(template.key, template.channel)] = template.current_version

    def budgets(self, jobs: Iterable[Job]) -> dict[int, list[datetime]]:
        """For each rate-limited provider in the batch, its hand-offs in the last minute."""
        limited = {
            p.pk
            for j in jobs
            if (p := self.providers.for_job(j)) is not None and p.limit is not None
        }
        windows: dict[int, list[datetime]] = defaultdict(list)
        if not limited:
            return windows
        where, params = rows.id_in("provider_id", sorted(limited))
        for provider_id, started in rows.fetch(
            f"SELECT provider_id, started_at FROM {ATTEMPTS} WHERE {where} "  # noqa: S608
            "AND started_at > %s ORDER BY started_at",
            [*params, rows.to_db_time(self.now - timedelta(minutes=1))],
        ):
            windows[provider_id].append(rows.from_db_time(started))  # type: ignore[arg-type]
        # Messages in flight have no attempt row yet, but take a place all the same.
        for provider_id, count in rows.fetch(
            f"SELECT provider_id, COUNT(*) FROM {MESSAGES} WHERE {where} "  # noqa: S608
            "AND status = 'sending' GROUP BY provider_id",
            params,
        ):
            windows[provider_id] += [self.now] * int(count)
        for pk in limited:
            windows[pk] = sorted(windows[pk])
        return windows

    # -- the gate, once more -----------------------------------------------------------------

    def plan_of(self, job: Job) -> Plan | None:
        """The rule version the message's plan is pinned to; ``None`` for a message of no rule."""
        known = self.enrollments.get(job.enrollment_id) if job.enrollment_id else None
        return plan(known[1]) if known is not None else None

    def look(self, job: Job, verdict: Verdict) -> bool:
        """The engine's gate on a queued message; ``True`` when it may go on."""
        decision = self.contact.decide(job, self.plan_of(job), ready_at=job.ready_at)
        if decision.action == DROP:
            verdict.drop.append((job, decision.reason))
            return False
        if decision.action == DEFER:
            assert decision.until is not None
            verdict.hold.append((job, decision.until, decision.reason))
            return False
        return True

    # -- the text ----------------------------------------------------------------------------

    def outgoing(self, job: Job, customer: Customer | None) -> Outgoing:
        if not job.body:
            self.render(job, customer)
        to = job.to
        if customer is not None:
            to = str(getattr(customer, ADDRESS.get(job.channel, ""), "") or "")
        version = self.pinned.get(job.version_id) if job.version_id else None
        headers: dict[str, str] = {}
        if job.channel == Channel.EMAIL and customer is not None:
            url = unsubscribe.url_for(job.pk)
            headers = {
                "List-Unsubscribe": f"<{url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        return Outgoing(
            message_id=job.pk,
            channel=job.channel or STAFF,
            to=to,
            body=job.body,
            subject=job.subject,
            template_code=version.provider_template_code if version else "",
            signature=signature_for(job, version),
            params=self.params.get(job.pk, {}),
            headers=headers,
        )

    def render(self, job: Job, customer: Customer | None) -> None:
        version = self.versions.get((job.template, job.channel))
        if job.version_id is not None:
            version = self.pinned.get(job.version_id, version)
        if version is None:
            if job.to and not job.template:  # a staff message written in full by its sender
                return
            if is_dry_run():  # a simulation shows when it would go; its report names the gap
                return
            raise _NoTemplate
        job.version_id = version.pk
        self.pinned[version.pk] = version
        event = None
        if job.enrollment_id in self.enrollments:
            event_id = self.enrollments[job.enrollment_id][0]
            event = self.events.get(event_id) if event_id is not None else None
        # The follow-up link — the personal questionnaire link when the message carries one —
        # is the message's first short link; any other URL the template's own text holds gets
        # the next ones. URLs that came from customer or event data, and links to this
        # installation (unsubscribe), stay as they are.
        survey = self.survey_link(job, customer)
        if not survey and _SURVEY & (set(names_used(version.body)) | _subject_names(version)):
            raise _NoSurvey
        found = [survey] if survey else [version.followup_url] if version.followup_url else []
        short = {
            "followup": links.short_url(job.pk, 0) if found else "",
            "survey": links.short_url(job.pk, 0) if survey else "",
            "unsubscribe": (
                unsubscribe.url_for(job.pk)
                if customer is not None and _UNSUBSCRIBE & set(names_used(version.body))
                else ""
            ),
        }
        context = Context(customer, event, now=self.now, links=short)
        job.subject = render(version.subject, context)[:200] if version.subject else ""
        job.body = links.shorten(
            render(version.body, context),
            job.pk,
            found,
            keep=_ours,
            only=links.written(version.body),
        )
        job.links = found
        self.params[job.pk] = provider_params(version.body, context)

    def survey_link(self, job: Job, customer: Customer | None) -> str:
        """The personal link to the questionnaire version the message carries, if it does."""
        survey = self.surveys.get(job.survey_version_id) if job.survey_version_id else None
        if survey is None or customer is None:
            return ""
        return link_for(survey, customer, message_id=job.pk, channel=job.channel)


_UNSUBSCRIBE = {"退订链接", "links.unsubscribe"}
_SURVEY = {"问卷链接", "links.survey"}


def _subject_names(version: TemplateVersion) -> set[str]:
    return set(names_used(version.subject)) if version.subject else set()


# Where the SMS providers keep their own default signature (Aliyun, Tencent; the HTTP gateway).
_PROVIDER_SIGNATURE = ("sign_name", "signature")


def signature_for(job: Job, version: TemplateVersion | None) -> str:
    """The template's own SMS signature; else the provider's own default (approved for that
    account, so it comes first), which the transport fills in; else the organisation's."""
    if version is not None and version.sms_signature:
        return version.sms_signature
    if job.channel != Channel.SMS:
        return ""
    config = job.provider.config if job.provider is not None else {}
    if any(str(config.get(key) or "").strip() for key in _PROVIDER_SIGNATURE):
        return ""
    return organisation().sms_signature


class _NoTemplate(Exception):
    pass


class _NoSurvey(Exception):
    pass


def _ours(url: str) -> bool:
    return url.startswith(f"{base_url()}/")


def provider_params(source: str, context: Context) -> dict[str, str]:
    """The variables a template uses, in order of first use, named ``customer_name`` …, for
    providers that fill their own approved template (Aliyun by name, Tencent by position)."""
    from .rendering import VARIABLES

    by_name = {v.chinese: v for v in VARIABLES} | {v.english: v for v in VARIABLES}
    params: dict[str, str] = {}
    for name in names_used(source):
        variable = by_name.get(name)
        if variable is not None:
            params[variable.english.replace(".", "_")] = variable.read(context)
    return params
