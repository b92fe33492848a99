"""Sending a scheduled report: the figures as an HTML table (and plain text) with the charts
as inline PNG images, by e-mail to the schedule's recipient, in the recipient's scope.

A report is a staff message on the e-mail channel: it goes through the first enabled e-mail
provider (as staff e-mail notifications do, ``huifang.tasks.notifications``) and its SMTP
transport, but straight from the worker rather than through the outbox, whose messages are
text only. The period's ``ReportDelivery`` row is claimed first (its unique key lets one worker
of two through); a send that fails gives the claim back and keeps the error on the schedule,
for its page and the next run. One that went out without an answer (``uncertain``) keeps the
claim: a report possibly received twice is worse than one possibly missing, and the page says
which it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.integrations.base import TransportError
from huifang.integrations.email.transport import EmailTransport, Inline, Rich
from huifang.integrations.models import Provider

from . import charts
from .exports import NONE, TOTALS, TREND, Table, table
from .models import ReportDelivery, ReportSchedule
from .periods import Period
from .schedules import Due, all_due
from .scope import scope_for

logger = logging.getLogger(__name__)

COUNTS = ("sent", "tasks_opened", "answered")  # what the charts draw, where known
SENT, TAKEN, FAILED, UNCERTAIN = "sent", "taken", "failed", "uncertain"


def email_provider() -> Provider | None:
    return Provider.objects.filter(kind="email", enabled=True).order_by("priority", "id").first()


@dataclass
class Shown:
    """A table as the mail shows it: only the KPIs known for some row."""

    title: str
    header: list[str]
    lines: list[list[Any]]
    cid: str = ""


def _shown(made: Table) -> Shown:
    keep = [0] + [
        i for i in range(1, len(made.header)) if any(line[i] != NONE for line in made.lines)
    ]
    return Shown(
        made.title,
        [made.header[i] for i in keep],
        [[line[i] for i in keep] for line in made.lines],
    )


def _chart(made: Table, key: str) -> bytes | None:
    known = [k for k in COUNTS if any(row.values.get(k) is not None for row in made.rows)]
    if not known:
        return None
    if key == TREND:
        return charts.trend_chart(made.rows, made.title, known)
    if key == TOTALS:
        return None
    return charts.bar_chart(made.rows, made.title, known[0])


def compose(schedule: ReportSchedule, period: Period) -> Rich:
    """The mail of ``schedule`` for ``period``, in the recipient's scope and the site's
    language."""
    recipient = schedule.recipient
    scope = scope_for(recipient)
    with translation.override(settings.LANGUAGE_CODE):
        shown: list[Shown] = []
        images: list[Inline] = []
        for key in schedule.tables:
            made = table(key, period, scope)
            item = _shown(made)
            png = _chart(made, key)
            if png is not None:
                item.cid = f"chart-{key}-{schedule.pk}@huifang"
                images.append(Inline(item.cid, png, f"{key}.png"))
            shown.append(item)
        subject = _("%(name)s: %(first)s – %(last)s") % {
            "name": schedule.name,
            "first": period.first,
            "last": period.last,
        }
        context = {"schedule": schedule, "period": period, "tables": shown, "subject": subject}
        html = render_to_string("analytics/report_mail.html", context)
        text = _text(subject, shown)
    return Rich(recipient.email, subject, text, html, tuple(images))


def _text(subject: str, shown: list[Shown]) -> str:
    parts = [subject, ""]
    for item in shown:
        parts += [item.title, " | ".join(item.header)]
        parts += [" | ".join(str(v) for v in line) for line in item.lines]
        parts.append("")
    parts.append(_("Figures in the recipient's scope; “—” means nothing to count."))
    return "\n".join(parts)


def _failed(schedule: ReportSchedule, now: datetime, error: str) -> None:
    schedule.last_error, schedule.last_error_at = error[:1000], now
    schedule.save(update_fields=["last_error", "last_error_at"])


def deliver(due: Due, now: datetime) -> str:
    """Send one due report; what happened: sent, taken (another worker has it), failed or
    uncertain."""
    schedule, period = due.schedule, due.period
    provider = email_provider()
    if provider is None:
        logger.warning("report %s not sent: no e-mail provider is enabled", schedule.pk)
        _failed(schedule, now, _("No e-mail provider is enabled: nothing was sent."))
        return FAILED
    if not schedule.recipient.email or not schedule.recipient.is_active:
        _failed(schedule, now, _("The recipient has no e-mail address or is deactivated."))
        return FAILED
    try:
        with transaction.atomic():
            claim = ReportDelivery.objects.create(
                schedule=schedule,
                period_first=period.first,
                period_last=period.last,
                status=ReportDelivery.Status.SENDING,
                claimed_at=now,
            )
    except IntegrityError:
        return TAKEN
    transport: Any = None
    try:
        transport = provider.transport()
        if not isinstance(transport, EmailTransport):
            raise TransportError("the e-mail provider is not an SMTP account", permanent=True)
        receipt = transport.send_rich(compose(schedule, period))
    except TransportError as exc:
        if exc.uncertain:
            _failed(schedule, now, _("Sent without an answer from the mail server: %(e)s")
                    % {"e": exc})  # fmt: skip
            return UNCERTAIN
        claim.delete()
        logger.warning("report %s not sent: %s", schedule.pk, exc)
        _failed(schedule, now, str(exc))
        return FAILED
    except Exception as exc:  # settings unreadable, a bug: the next run tries again
        claim.delete()
        logger.exception("report %s not sent", schedule.pk)
        _failed(schedule, now, f"{type(exc).__name__}: {exc}")
        return FAILED
    finally:
        if transport is not None and hasattr(transport, "close"):
            transport.close()
    claim.status, claim.sent_at, claim.reference = (
        ReportDelivery.Status.SENT,
        now,
        receipt.provider_ref[:255],
    )
    claim.save(update_fields=["status", "sent_at", "reference"])
    schedule.last_sent_at, schedule.last_error, schedule.last_error_at = now, "", None
    schedule.save(update_fields=["last_sent_at", "last_error", "last_error_at"])
    record(
        Entry.Action.EXPORT,
        "scheduled report e-mailed",
        target=schedule,
        details={
            "period": [period.first.isoformat(), period.last.isoformat()],
            "recipient": schedule.recipient_id,
            "scope": scope_for(schedule.recipient).label(),
            "tables": list(schedule.tables),
        },
        at=now,
    )
    return SENT


def send_due(now: datetime) -> dict[str, int]:
    """Every due report, one after another; counts by outcome."""
    outcomes: dict[str, int] = {}
    for item in all_due(now):
        outcome = deliver(item, now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
