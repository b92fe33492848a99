"""The audit page: administrators read the log, filtered, newest first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from huifang.core.pagination import seek

from .models import Entry
from .services import verify

PAGE_SIZE = 50

# What the entries' verbs and detail names mean, for the page (the entries keep plain keys).
WORDS = {
    "phone": _("phone"),
    "email": _("e-mail"),
    "wecom_external_userid": _("WeCom id"),
    "issued": _("issued"),
    "revoked": _("revoked"),
    "saved": _("saved"),
    "activated": _("activated"),
    "paused": _("paused"),
    "resumed": _("resumed"),
    "archived": _("archived"),
    "rolled_back": _("rolled back"),
    "created": _("created"),
    "switched": _("strategy set switched"),
    "in_flight": _("plans under way"),
    "added": _("added"),
    "changed": _("changed"),
    "deleted": _("deleted"),
    "enabled": _("enabled"),
    "disabled": _("disabled"),
    "granted": _("granted"),
    "withdrawn": _("withdrawn"),
    "locked out": _("locked out"),
    "organisation": _("organisation settings"),
    "calendar day": _("calendar day"),
    "calendar import": _("calendar import"),
    "calendar year confirmed": _("calendar year confirmed"),
    "field": _("field"),
    "where": _("where"),
    "version": _("version"),
    "comment": _("comment"),
    "channel": _("channel"),
    "from": _("from"),
    "to": _("to"),
    "method": _("how"),
    "username": _("user name"),
    "change": _("change"),
    "minutes": _("minutes"),
    "password changed": _("password changed"),
    # Blocked outbound connections (integrations.outbound): the detail names and values.
    "blocked": _("blocked"),
    "host": _("host"),
    "port": _("port"),
    "address": _("address"),
    "reason": _("reason"),
    "via": _("asked by"),
    "kind": _("provider kind"),
    "message": _("message"),
    "sending": _("sending messages"),
    "send test": _("an administrator's send test"),
    "short link": _("a customer's click on a short link"),
    "loopback": _("loopback (this machine)"),
    "link-local": _("link-local (e.g. cloud metadata 169.254.169.254)"),
    "unspecified": _("unspecified (0.0.0.0 or ::)"),
    "multicast": _("multicast"),
    "shared": _("shared (100.64.0.0/10, e.g. cloud metadata)"),
    "private": _("private network"),
    "reserved": _("reserved"),
    "internal": _("internal"),
}


def _word(value: object) -> object:
    return WORDS.get(value, value) if isinstance(value, str) else value


def _row(entry: Entry) -> dict[str, object]:
    return {
        "entry": entry,
        "verb": _word(entry.verb),
        "details": [(_word(key), _word(value)) for key, value in entry.details.items()],
    }


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def filtered(params: Mapping[str, str]) -> tuple[QuerySet[Entry], dict[str, str]]:
    """The entries ``params`` ask for (action, actor, object, from and to days on the
    viewer's calendar) and the filters as read: the page shows them, its export applies them."""
    entries = Entry.objects.all()
    filters = {
        "action": params.get("action", ""),
        "actor": params.get("actor", "").strip()[:150],
        "object": params.get("object", "").strip()[:200],
        "start": params.get("from", ""),
        "end": params.get("to", ""),
    }
    if filters["action"] in Entry.Action.values:
        entries = entries.filter(action=filters["action"])
    if filters["actor"]:
        entries = entries.filter(actor__icontains=filters["actor"])
    if filters["object"]:
        entries = entries.filter(object_repr__icontains=filters["object"])
    zone = timezone.get_current_timezone()
    if (start := _day(filters["start"])) is not None:
        entries = entries.filter(at__gte=datetime.combine(start, time.min, zone))
    if (end := _day(filters["end"])) is not None:
        entries = entries.filter(at__lte=datetime.combine(end, time.max, zone))
    return entries, filters


def audit_log(request: HttpRequest) -> HttpResponse:
    """Administrators only: ``requires("audit", "view")`` guards it in ``server/urls.py``."""
    entries, filters = filtered(request.GET)
    page = seek(entries, order="-seq", size=PAGE_SIZE, after=request.GET.get("after"))
    query = request.GET.copy()
    query.pop("after", None)
    query.pop("verify", None)
    checked, broken = verify() if request.GET.get("verify") else (None, None)
    return render(
        request,
        "audit/log.html",
        {
            "page": page,
            "rows": [_row(entry) for entry in page.items],
            "filters": filters,
            "active": any(filters.values()),
            "actions": Entry.Action.choices,
            "query": query.urlencode(),
            "checked": checked,
            "broken": broken,
        },
    )
