"""The customer's side of a message: the unsubscribe page and short links (no login: the
signed link is the key)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from huifang.accounts.permissions import public
from huifang.customers.models import Channel
from huifang.organisation.services import current as organisation

from . import clicks
from .unsubscribe import ALL, CHANNEL, already, find, lifetime, unsubscribe


def _evidence(request: HttpRequest, how: str) -> str:
    address = request.META.get("REMOTE_ADDR", "")
    agent = request.META.get("HTTP_USER_AGENT", "")[:300]
    return f"{how}; ip={address}; user-agent={agent}"


# The signed link is the credential, not a session: there is no cookie to forge a request
# with, and RFC 8058's one-click POST comes from a mail client that has neither cookie nor
# CSRF token. GET never changes anything.
@public("the signed, expiring token in the URL names the customer")
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    found = find(token)
    message = found.message
    if message is None:
        return render(request, "messaging/unsubscribe_invalid.html", status=404)
    customer = message.customer
    assert customer is not None  # find() finds customers' messages only
    with translation.override(customer.language or None):
        if found.expired:
            # Nothing changes (a one-click POST included); the page says what still works.
            return render(
                request,
                "messaging/unsubscribe_expired.html",
                {"days": lifetime().days},
                status=410,
            )
        channel = message.channel or (message.channels[0] if message.channels else "")
        context = {
            "customer_name": customer.name,
            "channel_label": Channel(channel).label if channel in Channel.values else channel,
            "scopes": (CHANNEL, ALL),
            "organisation": organisation().display_name,
        }
        if request.method == "GET":
            # Opened again later: say what already holds, and offer only what is left.
            context["everything"] = already(customer, None)
            context["already"] = bool(channel) and already(customer, [channel])
            return render(request, "messaging/unsubscribe.html", context)
        if request.POST.get("List-Unsubscribe") == "One-Click":
            unsubscribe(message, CHANNEL, evidence=_evidence(request, "RFC 8058 one-click"))
            return HttpResponse(status=200)
        scope = ALL if request.POST.get("scope") == ALL else CHANNEL
        channels = unsubscribe(message, scope, evidence=_evidence(request, "unsubscribe page"))
        labels = [Channel(c).label for c in channels if c in Channel.values]
        return render(
            request,
            "messaging/unsubscribed.html",
            {**context, "scope": scope, "channel_labels": labels},
        )


@public("the signed token in the URL names the link; only organisation URLs are followed")
@require_http_methods(["GET", "HEAD"])
def follow_link(request: HttpRequest, token: str) -> HttpResponse:
    """Count the click and redirect to the URL the message's text linked to — only that one.
    A machine's request (HEAD, a link preview, a prefetch) is redirected but not counted."""
    agent = request.META.get("HTTP_USER_AGENT", "")
    target = clicks.follow(
        token,
        user_agent=agent,
        # A click by signed-in staff (a message opened from the timeline) is not the customer's.
        count=request.method == "GET"
        and not clicks.automated(agent, request.headers)
        and not request.user.is_authenticated,
    )
    if target is None:
        return render(request, "messaging/unsubscribe_invalid.html", status=404)
    response = HttpResponseRedirect(target)
    response["Referrer-Policy"] = "no-referrer"  # the token stays ours
    response["Cache-Control"] = "no-store"  # every click reaches us
    return response
