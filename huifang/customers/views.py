from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huifang.accounts.permissions import can, requires
from huifang.core.pagination import seek

from . import event_properties, pii, timeline, visibility
from .editing import ConsentForm, ProfileForm
from .event_types import label_of
from .models import Channel, Consent, Customer, Event, LifecycleStage, Tag, Tier
from .phones import format_phone
from .search import SORTS, CustomerFilters
from .timeline import follow_ups

PAGE_SIZE = 25
TIMELINE_PAGE_SIZE = 20


@requires("customer", "view")
def customer_list(request: HttpRequest) -> HttpResponse:
    filters = CustomerFilters.from_query(request.GET.dict())
    queryset = visibility.visible(
        request.user, filters.apply(Customer.objects.select_related("owner__staff_profile"))
    )
    page = seek(
        queryset,
        order=filters.order,
        size=PAGE_SIZE,
        after=request.GET.get("after"),
        before=request.GET.get("before"),
    )
    customers = list(page.items)
    _attach_tags(customers)
    context: dict[str, Any] = {
        "page": page,
        "customers": customers,
        "filters": filters,
        "sorts": SORTS,
        "tiers": Tier.choices,
        "stages": LifecycleStage.choices,
        "tags": Tag.objects.all()[:200],
        "owners": _owners(),
        "query": _query_without_cursor(request),
        "can_import": can(request.user, "customer", "import"),
        "can_export": can(request.user, "customer", "export"),
        "can_reveal": can(request.user, "customer", "reveal"),
        "can_create_tasks": can(request.user, "task", "create"),
    }
    template = (
        "customers/_results.html" if request.headers.get("HX-Request") else "customers/list.html"
    )
    return render(request, template, context)


def _owners() -> list[Any]:
    User = get_user_model()
    return list(
        User.objects.filter(is_active=True, staff_profile__isnull=False)
        .select_related("staff_profile")
        .order_by("username")
    )


def _attach_tags(customers: list[Customer]) -> None:
    """One query for the tags of a whole page instead of one per row."""
    through = Customer.tags.through
    by_customer: dict[int, list[str]] = {}
    rows = through.objects.filter(customer_id__in=[c.pk for c in customers]).values_list(
        "customer_id", "tag__name"
    )
    for customer_id, name in rows:
        by_customer.setdefault(customer_id, []).append(name)
    for customer in customers:
        customer.tag_names = sorted(by_customer.get(customer.pk, []))  # type: ignore[attr-defined]


def _query_without_cursor(request: HttpRequest) -> str:
    params = request.GET.copy()
    for key in ("after", "before"):
        params.pop(key, None)
    return params.urlencode()


@requires("customer", "view")
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(
        visibility.visible(request.user, Customer.objects.select_related("owner__staff_profile")),
        pk=pk,
    )
    consents = {c.channel: c for c in Consent.objects.filter(customer=customer)}
    context = {
        "customer": customer,
        "tags": customer.tags.all(),
        "consent_rows": [(value, label, consents.get(value)) for value, label in Channel.choices],
        "contact_points": customer.contact_points.all(),
        # (key, value, field): a personal attribute has a field, shown masked with its reveal.
        "attributes": [
            (key, value, f"{pii.ATTRIBUTE}{key}" if pii.is_personal_attribute(key) else "")
            for key, value in sorted(customer.attributes.items())
        ],
        "follow_ups": follow_ups(customer),
        "can_create_tasks": can(request.user, "task", "create"),
        "can_edit": can(request.user, "customer", "edit") and customer.erased_at is None,
        "can_access": can(request.user, "customer", "access"),
        "can_erase": can(request.user, "customer", "erase") and customer.erased_at is None,
        "consent_form": ConsentForm(),
        **_timeline_context(request, customer),
    }
    return render(request, "customers/detail.html", context)


def _timeline_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """A page of the customer's events, newest first, optionally of one type (``?type=``),
    each with its properties in words (``event_properties``)."""
    events = Event.objects.filter(customer=customer)
    present = events.order_by().values_list("type", flat=True).distinct()
    kinds = sorted(((key, label_of(key)) for key in present), key=lambda item: item[1])
    chosen = request.GET.get("type", "")
    if chosen and chosen in dict(kinds):
        events = events.filter(type=chosen)
    else:
        chosen = ""
    page = seek(
        events, order="-occurred_at", size=TIMELINE_PAGE_SIZE, after=request.GET.get("after")
    )
    items = list(page.items)
    timeline.redact(request.user, items)
    for event in items:
        event.shown = event_properties.shown(event)  # type: ignore[attr-defined]
    return {"timeline": page, "timeline_types": kinds, "timeline_type": chosen}


def _editable(request: HttpRequest, pk: int) -> Customer:
    return get_object_or_404(
        visibility.visible(request.user, Customer.objects.select_related("owner__staff_profile")),
        pk=pk,
    )


@requires("customer", "edit")
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The profile, tags, owner (for those who assign work) and a note; audited."""
    customer = _editable(request, pk)
    form = ProfileForm(
        request.POST or None, instance=customer, can_assign=can(request.user, "task", "assign")
    )
    if request.method == "POST" and form.is_valid():
        changed = form.save_by(request.user, request)
        if changed:
            messages.success(request, _("The customer's details are saved."))
        else:
            messages.info(request, _("Nothing changed."))
        return redirect("customers:detail", customer.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "customers/edit.html", {"customer": customer, "form": form}, status=status
    )


@requires("customer", "edit")
@require_POST
def customer_consent(request: HttpRequest, pk: int) -> HttpResponse:
    """A consent decision the customer gave staff, with its evidence."""
    customer = _editable(request, pk)
    form = ConsentForm(request.POST)
    if form.is_valid():
        form.save_by(customer, request.user)
        messages.success(request, _("The consent decision is recorded."))
        return redirect(f"{reverse('customers:detail', args=[customer.pk])}#consent")
    pair = _("%(label)s: %(value)s")
    messages.error(
        request,
        " ".join(
            pair % {"label": form.fields[name].label if name in form.fields else "", "value": e}
            for name, errors in form.errors.items()
            for e in errors
        ),
    )
    return redirect(f"{reverse('customers:detail', args=[customer.pk])}#consent-form")


@requires("customer", "view")
def customer_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(visibility.visible(request.user), pk=pk)
    return render(
        request,
        "customers/_timeline.html",
        {
            "customer": customer,
            # A new filter (not the next page): the header's count follows it.
            "count_oob": not request.GET.get("after"),
            **_timeline_context(request, customer),
        },
    )


@requires("customer", "reveal")
@require_POST
def reveal(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    """One personal detail in full: an audited reveal (DESIGN.md invariant 9). htmx swaps the
    answer in place of the masked value; without JavaScript it is a page of its own."""
    customer = get_object_or_404(visibility.visible(request.user), pk=pk)
    context: dict[str, Any] = {"customer": customer, "field": field}
    try:
        shown = pii.reveal(
            customer,
            field,
            user=request.user,
            request=request,
            reason=request.POST.get("reason", "")[:200],
            context=request.POST.get("where", "")[:60],
        )
    except pii.RevealRefused as refused:
        detail = pii.detail_of(customer, field)
        if detail is None:
            raise Http404 from None
        context.update(error=str(refused), masked=pii.mask(*detail))
        status = refused.status
    else:
        shown_as = format_phone(shown.value) if shown.kind == "phone" else shown.value
        context.update(value=shown.value, shown_as=shown_as, kind=shown.kind)
        status = 200
    if request.headers.get("HX-Request"):
        # htmx swaps only successful answers: the refusal is shown in place, saying why.
        response = render(request, "customers/_pii_revealed.html", context)
    else:
        response = render(request, "customers/reveal.html", context, status=status)
    add_never_cache_headers(response)
    return response
