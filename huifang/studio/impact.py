"""The impact of a rule version, for its preview page: the next days simulated twice — the
version alone, and with every other active rule — laid side by side, with translated labels.
Each simulation runs in a transaction that is rolled back, so nothing changes.

A month at a large shop takes minutes, longer than a web request may: a worker computes it
(``tasks.compute_preview``) into a ``Preview``, which the page shows, in its reader's language,
until it is stale — an hour old, or the active rules have changed since."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from huey.contrib.djhuey import HUEY

from huifang.customers.event_types import label_of
from huifang.customers.models import Channel, Customer
from huifang.messaging.models import Reason
from huifang.rules.document import RuleError, parse_rule
from huifang.rules.models import Rule, RuleVersion
from huifang.rules.plans import plan
from huifang.studio.simulate import SimulationError, simulate

from .models import Preview

# A stored preview is shown until it is this old, then simulated again from the new now.
FRESH = timedelta(hours=1)
# A worker that has said nothing of a preview for this long has stopped: it is asked again.
SILENT = timedelta(minutes=10)
# How often a running simulation says how far it got (a write to Huey's store).
BEAT_EVERY = 0.5  # seconds
# The parts of a simulation's report the page shows; the rest (each send, each task, with
# customers' names) is for ``huifang simulate`` and is not kept.
KEPT = ("rules", "days", "totals", "reasons", "teams", "caps", "over_cap", "missing_templates")

# The periods a preview offers.
DAYS = (7, 14, 30)

Progress = Callable[[float], None]


def default_days(version: RuleVersion) -> int:
    """The shortest period that covers a day of the version's work after its first message
    or task: a short preview is a quick one (the simulation's time grows with the period)."""
    reach = plan(version.pk).first_reach + timedelta(days=1)
    return next((days for days in DAYS if timedelta(days=days) >= reach), DAYS[-1])


def impact(
    rule: Rule,
    version: RuleVersion,
    *,
    days: int,
    start: datetime,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Simulate ``version`` of ``rule`` alone and with every other active rule, and keep of the
    two reports what the page shows (customers by id only: ``shown`` reads their names)."""
    document = parse_rule(version.content)
    others = list(
        Rule.objects.filter(status=Rule.Status.ACTIVE)
        .exclude(pk=rule.pk)
        .order_by("key")
        .values_list("key", flat=True)
    )
    # Events to come are not known: the recent ones of the event rules' types stand in for them.
    alone = simulate(
        start, days, documents=[document], project=True, progress=_share(progress, 0.0, 0.5)
    )
    together = simulate(
        start,
        days,
        rules=others,
        documents=[document],
        project=True,
        progress=_share(progress, 0.5, 1.0),
    )
    return {
        "key": document.key,
        "name": document.name,
        "alone": _kept(alone),
        "together": _kept(together),
        "projected": {
            **alone["projected"],
            "since": alone["projected"]["since"] and alone["projected"]["since"].isoformat(),
        },
    }


def _share(progress: Progress | None, low: float, high: float) -> Progress | None:
    """One simulation's progress as its part of the whole."""
    if progress is None:
        return None
    return lambda done: progress(low + (high - low) * done)


def _kept(report: dict[str, Any]) -> dict[str, Any]:
    kept = {key: report[key] for key in KEPT}
    kept["over_cap"] = {
        **report["over_cap"],
        "customers": [
            {key: value for key, value in customer.items() if key != "name"}
            for customer in report["over_cap"]["customers"]
        ],
    }
    return kept


def shown(stored: dict[str, Any]) -> dict[str, Any]:
    """A kept impact as the page shows it: labels in the reader's language, customers named."""
    alone, together = stored["alone"], stored["together"]
    ids = {
        customer["id"]
        for report in (alone, together)
        for customer in report["over_cap"]["customers"]
    }
    names = dict(Customer.objects.filter(pk__in=ids).values_list("id", "name"))
    for report in (alone, together):
        for customer in report["over_cap"]["customers"]:
            customer["name"] = names.get(customer["id"], "")
    return {
        **figures(alone, together, names={stored["key"]: stored["name"]}),
        "projected": _projected(stored["projected"]),
    }


# The stored previews ----------------------------------------------------------------------


def others_of(rule: Rule) -> list[str]:
    """The active rules a preview of ``rule`` runs beside, each with its running version."""
    return sorted(
        f"{key}:{version}"
        for key, version in Rule.objects.filter(status=Rule.Status.ACTIVE)
        .exclude(pk=rule.pk)
        .values_list("key", "current_version_id")
    )


def latest(version: RuleVersion, days: int) -> Preview | None:
    return Preview.objects.filter(version=version, days=days).first()


def stale(preview: Preview, rule: Rule, now: datetime) -> bool:
    """A finished preview no longer says what the version would do from now."""
    finished = preview.finished_at or preview.requested_at
    return finished < now - FRESH or preview.others != others_of(rule)


def silent(preview: Preview, now: datetime) -> bool:
    """A preview being worked on whose worker has stopped (or never came)."""
    if preview.status == Preview.Status.QUEUED:
        # Waiting in the queue behind other work is not stopping: judged from the request.
        return preview.requested_at < now - SILENT * 3
    beat = progress_of(preview)[1] or preview.start or preview.requested_at
    return beat < now - SILENT


def give_up(preview: Preview, now: datetime) -> None:
    """A preview whose worker stopped: failed, so the page offers to try again."""
    Preview.objects.filter(pk=preview.pk, status__in=Preview.WORKING).update(
        status=Preview.Status.FAILED, error="", finished_at=now
    )
    preview.refresh_from_db()


def queued(
    rule: Rule, version: RuleVersion, days: int, *, user: Any = None, now: datetime | None = None
) -> Preview:
    """A new preview, waiting for a worker (the caller queues ``compute_preview``)."""
    return Preview.objects.create(
        version=version,
        days=days,
        status=Preview.Status.QUEUED,
        others=others_of(rule),
        requested_at=now or timezone.now(),
        requested_by=user if user is not None and user.is_authenticated else None,
    )


def compute(pk: int) -> Preview | None:
    """Simulate a queued preview and keep its figures (the worker's part)."""
    preview = (
        Preview.objects.select_related("version__rule")
        .filter(pk=pk, status=Preview.Status.QUEUED)
        .first()
    )
    if preview is None:
        return None
    start = timezone.now()
    claimed = Preview.objects.filter(pk=pk, status=Preview.Status.QUEUED).update(
        status=Preview.Status.RUNNING,
        start=start,
        customers=Customer.objects.filter(erased_at__isnull=True).count(),
    )
    if not claimed:  # another worker took it
        return None
    beat = _Beat(pk)
    version = preview.version
    try:
        result = impact(version.rule, version, days=preview.days, start=start, progress=beat)
    except (SimulationError, RuleError) as exc:
        _finish(pk, Preview.Status.FAILED, error=str(exc)[:500])
    except Exception:
        _finish(pk, Preview.Status.FAILED)
        raise
    else:
        _finish(pk, Preview.Status.DONE, result=result)
        # Earlier ones of the same version and period are of no more use.
        Preview.objects.filter(version=version, days=preview.days, pk__lt=pk).exclude(
            status__in=Preview.WORKING
        ).delete()
    finally:
        beat.forget()
    return Preview.objects.get(pk=pk)


def _finish(pk: int, status: str, *, result: Any = None, error: str = "") -> None:
    Preview.objects.filter(pk=pk).update(
        status=status, result=result, error=error, finished_at=timezone.now()
    )


def _key(pk: int) -> str:
    return f"huifang:preview:{pk}"


class _Beat:
    """How far a running preview got, told to Huey's store (Redis, or its SQLite file) every
    half second: the simulation's own transaction is not seen by the page until it ends, and a
    worker on another machine shares only the queue with the web."""

    def __init__(self, pk: int) -> None:
        self.key = _key(pk)
        self.said = 0.0

    def __call__(self, done: float) -> None:
        clock = time.monotonic()
        if clock - self.said >= BEAT_EVERY:
            self.said = clock
            HUEY.put(self.key, (round(done, 3), timezone.now()))

    def forget(self) -> None:
        HUEY.delete(self.key)


def progress_of(preview: Preview) -> tuple[float, datetime | None]:
    """The share of a running preview simulated so far, and when its worker last said so."""
    told = HUEY.get(_key(preview.pk), peek=True)
    if not told:
        return 0.0, None
    done, at = told
    return float(done), at


def expected_seconds(preview: Preview) -> float | None:
    """How long this preview should take, from the last finished one of the same period
    (scaled by the number of customers): the page's estimate, none before the first."""
    last = (
        Preview.objects.filter(days=preview.days, status=Preview.Status.DONE)
        .exclude(Q(start__isnull=True) | Q(finished_at__isnull=True))
        .order_by("-finished_at")
        .first()
    )
    if last is None or last.seconds is None:
        return None
    scale = (preview.customers or last.customers or 1) / (last.customers or 1)
    return last.seconds * max(scale, 0.1)


def _projected(projected: dict[str, Any]) -> dict[str, Any]:
    """What stood in for the events to come, in words for the page."""
    since = projected["since"]
    return {
        **projected,
        "since": datetime.fromisoformat(since) if isinstance(since, str) else since,
        "labels": "、".join(label_of(t) for t in projected["types"]),
    }


def rule_names(keys: list[str], names: dict[str, str] | None = None) -> list[str]:
    """Rules by their names, as people call them (keys are for files and URLs)."""
    known = dict(Rule.objects.filter(key__in=keys).values_list("key", "name"))
    known.update(names or {})
    return [known.get(key, key) for key in keys]


def figures(
    alone: dict[str, Any], together: dict[str, Any], names: dict[str, str] | None = None
) -> dict[str, Any]:
    dates = [day["date"] for day in alone["days"]]
    channels = sorted(
        {code for report in (alone, together) for day in report["days"] for code in day["messages"]}
    )
    return {
        "dates": dates,
        "rules": rule_names(together["rules"], names),
        "chart": _chart(dates, channels, alone, together),
        "channels": [(code, _channel(code)) for code in channels],
        "messages": [
            {
                "date": date,
                "alone": [a["messages"].get(code, 0) for code in channels],
                "together": [t["messages"].get(code, 0) for code in channels],
            }
            for date, a, t in zip(dates, alone["days"], together["days"], strict=True)
        ],
        "totals": [
            {
                "key": key,
                "label": label,
                "alone": alone["totals"].get(key, 0),
                "together": together["totals"].get(key, 0),
            }
            for key, label in (
                ("enrollments", _("Plans started")),
                ("messages", _("Messages sent")),
                ("tasks", _("Tasks")),
                ("deferrals", _("Held")),
                ("drops", _("Dropped")),
            )
        ],
        "teams": _teams(dates, alone["teams"], together["teams"]),
        "reasons": _reasons(alone["reasons"], together["reasons"]),
        "over_cap": {
            "alone": _over_cap(alone),
            "together": _over_cap(together),
        },
        "missing_templates": [
            f"{key} ({_channel(channel)})" for key, channel in alone["missing_templates"]
        ],
    }


def _channel(code: str) -> str:
    return str(Channel(code).label) if code in Channel.values else code


def _chart(
    dates: list[str], channels: list[str], alone: dict[str, Any], together: dict[str, Any]
) -> dict[str, Any]:
    """What preview.js draws: per scenario, one stacked series per channel."""

    def series(report: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "name": _channel(code),
                "data": [day["messages"].get(code, 0) for day in report["days"]],
            }
            for code in channels
        ]

    return {
        "dates": [date[5:] for date in dates],  # MM-DD
        "alone": series(alone),
        "together": series(together),
        "empty": _("No message would be sent."),
    }


def _teams(
    dates: list[str], alone: list[dict[str, Any]], together: list[dict[str, Any]]
) -> dict[str, Any]:
    """Per day, per team: tasks of the rule alone, of all rules, and the team's capacity."""
    by_key: dict[str, dict[str, dict[str, Any]]] = {}
    names: dict[str, str] = {}
    for scenario, teams in (("alone", alone), ("together", together)):
        for team in teams:
            names[team["key"]] = team["name"] or _("No team")
            by_key.setdefault(team["key"], {})[scenario] = {d["date"]: d for d in team["days"]}
    keys = sorted(names, key=lambda k: (k == "", names[k]))
    empty: dict[str, Any] = {"tasks": 0, "capacity": None, "over": False}
    rows: list[dict[str, Any]] = []
    for date in dates:
        cells: list[dict[str, Any]] = []
        for key in keys:
            a = by_key[key].get("alone", {}).get(date, empty)
            t = by_key[key].get("together", {}).get(date, empty)
            capacity = t["capacity"] if t["capacity"] is not None else a["capacity"]
            cells.append(
                {
                    "alone": a["tasks"],
                    "together": t["tasks"],
                    "capacity": "—" if capacity is None else capacity,
                    "alone_over": a["over"],
                    "together_over": t["over"],
                }
            )
        rows.append({"date": date, "cells": cells})
    over = sum(1 for row in rows for cell in row["cells"] if cell["together_over"])
    return {"teams": [{"key": k, "name": names[k]} for k in keys], "rows": rows, "over": over}


def _reasons(alone: dict[str, Any], together: dict[str, Any]) -> list[dict[str, Any]]:
    labels = dict(Reason.choices)
    codes = sorted(
        {
            code
            for report in (alone, together)
            for kind in ("deferrals", "drops")
            for code in report[kind]
        }
    )
    return [
        {
            "code": code,
            "label": str(labels.get(code, code)),
            "held": (alone["deferrals"].get(code, 0), together["deferrals"].get(code, 0)),
            "dropped": (alone["drops"].get(code, 0), together["drops"].get(code, 0)),
        }
        for code in codes
    ]


def cap_text(cap: dict[str, Any]) -> str:
    channel = _("any channel") if cap["channel"] == "any" else _channel(cap["channel"])
    return _("at most %(max)s in %(days)s days on %(channel)s") % {
        "max": cap["max"],
        "days": cap["per_days"],
        "channel": channel,
    }


def _over_cap(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "count": report["over_cap"]["count"],
        "customers": [
            {**customer, "cap_text": cap_text(customer["cap"])}
            for customer in report["over_cap"]["customers"]
        ],
        "caps": [
            {
                "text": cap_text(cap),
                "default": cap["default"],
                "rules": "、".join(rule_names(list(cap["rules"]))),
            }
            for cap in report["caps"]
        ],
    }
