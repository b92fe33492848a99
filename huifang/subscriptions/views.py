"""The event subscriptions pages, for administrators only: the list, the form, send test,
pause and resume, delete, and each subscription's delivery log with replay."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huifang.accounts.permissions import requires
from huifang.core.pagination import seek
from huifang.integrations.outbound import record_blocked
from huifang.integrations.secrets import UnreadableSecrets

from . import services
from .delivery import send_now
from .events import event_types
from .forms import SubscriptionForm
from .models import Delivery, Subscription

PAGE_SIZE = 50
STATUS_BADGES = {
    Delivery.Status.PENDING: "text-bg-secondary",
    Delivery.Status.DELIVERING: "text-bg-info",
    Delivery.Status.DELIVERED: "text-bg-success",
    Delivery.Status.FAILED: "text-bg-warning",
    Delivery.Status.GIVEN_UP: "text-bg-danger",
}


def _unreadable(subscription: Subscription) -> bool:
    try:
        subscription.secret()
    except UnreadableSecrets:
        return True
    return False


@requires("subscription", "manage")
def subscription_list(request: HttpRequest) -> HttpResponse:
    subscriptions = list(Subscription.objects.all())
    counts: Counter[tuple[int, str]] = Counter()
    for pk, status in Delivery.objects.values_list("subscription_id", "status"):
        counts[(pk, status)] += 1
    rows = [
        {
            "subscription": s,
            "labels": [str(event_types[k].label) for k in s.event_types if k in event_types],
            "delivered": counts[(s.pk, Delivery.Status.DELIVERED)],
            "waiting": counts[(s.pk, Delivery.Status.PENDING)]
            + counts[(s.pk, Delivery.Status.FAILED)]
            + counts[(s.pk, Delivery.Status.DELIVERING)],
            "given_up": counts[(s.pk, Delivery.Status.GIVEN_UP)],
            "unreadable": _unreadable(s),
        }
        for s in subscriptions
    ]
    return render(request, "subscriptions/list.html", {"rows": rows})


def _form_page(
    request: HttpRequest, form: SubscriptionForm, subscription: Subscription | None
) -> HttpResponse:
    if form.blocked is not None and form.blocked.blocked is not None:
        record_blocked(form.blocked.blocked, via="subscription form", request=request)
    for name in form.errors:
        if name in form.fields:
            widget = form.fields[name].widget
            widget.attrs["class"] = widget.attrs.get("class", "") + " is-invalid"
    context = {"form": form, "subscription": subscription, "event_types": list(event_types)}
    return render(request, "subscriptions/form.html", context)


def _save(request: HttpRequest, subscription: Subscription | None) -> HttpResponse:
    form = SubscriptionForm(request.POST or None, instance=subscription)
    if request.method != "POST" or not form.is_valid():
        return _form_page(request, form, subscription)
    saved = services.save_subscription(
        subscription=form.save(commit=False),
        secret=form.cleaned_data["secret"],
        changed=form.changed_data,
        request=request,
    )
    messages.success(
        request,
        _("“%(name)s” is saved. Send a test to check that the receiver accepts it.")
        % {"name": saved.name},
    )
    return redirect("subscriptions:log", saved.pk)


@requires("subscription", "manage")
def add(request: HttpRequest) -> HttpResponse:
    return _save(request, None)


@requires("subscription", "manage")
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _save(request, get_object_or_404(Subscription, pk=pk))


@require_POST
@requires("subscription", "manage")
def pause(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(Subscription, pk=pk)
    services.set_active(subscription=subscription, active=False, request=request)
    messages.success(request, _("“%(name)s” is paused.") % {"name": subscription.name})
    return redirect("subscriptions:list")


@require_POST
@requires("subscription", "manage")
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(Subscription, pk=pk)
    services.set_active(subscription=subscription, active=True, request=request)
    messages.success(request, _("“%(name)s” is active again.") % {"name": subscription.name})
    return redirect("subscriptions:list")


@requires("subscription", "manage")
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(Subscription, pk=pk)
    if request.method == "POST":
        name = subscription.name
        services.delete(subscription=subscription, request=request)
        messages.success(request, _("“%(name)s” is deleted.") % {"name": name})
        return redirect("subscriptions:list")
    count = subscription.deliveries.count()
    return render(
        request, "subscriptions/delete.html", {"subscription": subscription, "count": count}
    )


@require_POST
@requires("subscription", "manage")
def send_test(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(Subscription, pk=pk)
    delivery = send_now(services.test_delivery(subscription=subscription, request=request))
    if delivery.status == Delivery.Status.DELIVERED:
        messages.success(
            request,
            _("The receiver accepted the test (HTTP %(status)s).")
            % {"status": delivery.last_status},
        )
    else:
        messages.error(
            request,
            _("The receiver did not accept the test: %(error)s")
            % {"error": delivery.last_error or delivery.get_status_display()},
        )
    return redirect("subscriptions:log", subscription.pk)


@requires("subscription", "manage")
def log(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(Subscription, pk=pk)
    status = request.GET.get("status", "")
    deliveries = subscription.deliveries.all()
    if status in Delivery.Status.values:
        deliveries = deliveries.filter(status=status)
    page = seek(
        deliveries,
        order="-created_at",
        size=PAGE_SIZE,
        after=request.GET.get("after"),
        before=request.GET.get("before"),
    )
    query = request.GET.copy()
    query.pop("after", None)
    query.pop("before", None)
    context: dict[str, Any] = {
        "subscription": subscription,
        "page": page,
        "rows": [(d, STATUS_BADGES[Delivery.Status(d.status)]) for d in page.items],
        "status": status,
        "statuses": Delivery.Status.choices,
        "query": query.urlencode(),
        "labels": [str(event_types[k].label) for k in subscription.event_types if k in event_types],
        "unreadable": _unreadable(subscription),
    }
    return render(request, "subscriptions/log.html", context)


@require_POST
@requires("subscription", "manage")
def replay(request: HttpRequest, pk: int, delivery: int) -> HttpResponse:
    original = get_object_or_404(Delivery, pk=delivery, subscription_id=pk)
    copy = services.replay(delivery=original, request=request)
    messages.success(
        request,
        _("Delivery #%(original)s is queued again as #%(copy)s.")
        % {"original": original.pk, "copy": copy.pk},
    )
    return redirect("subscriptions:log", pk)
