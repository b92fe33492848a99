"""The audit page: administrators read the log, filtered, newest first."""

from __future__ import annotations

from datetime import date, datetime, time

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from huifang.core.pagination import seek

from .models import Entry
from .services import verify

PAGE_SIZE = 50


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def audit_log(request: HttpRequest) -> HttpResponse:
    """Administrators only (the permission is checked by the URL's decorator)."""
    entries = Entry.objects.all()
    filters = {
        "action": request.GET.get("action", ""),
        "actor": request.GET.get("actor", "").strip()[:150],
        "object": request.GET.get("object", "").strip()[:200],
        "start": request.GET.get("from", ""),
        "end": request.GET.get("to", ""),
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
            "filters": filters,
            "active": any(filters.values()),
            "actions": Entry.Action.choices,
            "query": query.urlencode(),
            "checked": checked,
            "broken": broken,
        },
    )
