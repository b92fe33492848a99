"""The impact of a rule version, for its preview page: the next days simulated twice — the
version alone, and with every other active rule — laid side by side, with translated labels.
Each simulation runs in a transaction that is rolled back, so nothing changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from huifang.customers.event_types import label_of
from huifang.customers.models import Channel
from huifang.messaging.models import Reason
from huifang.rules.document import parse_rule
from huifang.rules.models import Rule, RuleVersion
from huifang.studio.simulate import simulate


def impact(rule: Rule, version: RuleVersion, *, days: int, start: datetime) -> dict[str, Any]:
    """Simulate ``version`` of ``rule`` alone and with every other active rule, and lay the two
    reports side by side for the page."""
    document = parse_rule(version.content)
    others = list(
        Rule.objects.filter(status=Rule.Status.ACTIVE)
        .exclude(pk=rule.pk)
        .order_by("key")
        .values_list("key", flat=True)
    )
    # Events to come are not known: the recent ones of the event rules' types stand in for them.
    alone = simulate(start, days, documents=[document], project=True)
    together = simulate(start, days, rules=others, documents=[document], project=True)
    return {
        **figures(alone, together, names={document.key: document.name}),
        "projected": _projected(alone["projected"]),
    }


def _projected(projected: dict[str, Any]) -> dict[str, Any]:
    """What stood in for the events to come, in words for the page."""
    return {
        **projected,
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
