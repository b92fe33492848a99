"""Staff pages of the messaging app: the templates page (editor, versions, live preview) and
the message log. The customer's side (unsubscribe, short links) is in ``views``."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from huifang.accounts.permissions import can, requires
from huifang.core.limits import small_id
from huifang.core.pagination import seek
from huifang.customers import visibility
from huifang.customers.models import Channel, Customer
from huifang.customers.search import search_q
from huifang.organisation.zones import viewer_zone
from huifang.rules.models import Rule

from . import log
from .forms import TemplateForm
from .models import Message, MessageTemplate, TemplateVersion
from .rendering import VARIABLES, TemplateError
from .services import CONTENT, Saved, preview, save_template

LOG_PAGE_SIZE = 50
CUSTOMER_CHOICES = 10


def _render(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """Render with times on the viewer's own clock."""
    with timezone.override(viewer_zone(request.user)):
        return render(request, template, context)


# ---------------------------------------------------------------- templates


@requires("template", "view")
def template_list(request: HttpRequest) -> HttpResponse:
    templates = MessageTemplate.objects.select_related("current_version")
    return _render(
        request,
        "messaging/templates.html",
        {"templates": templates, "can_edit": can(request.user, "template", "edit")},
    )


@requires("template", "edit")
def template_new(request: HttpRequest) -> HttpResponse:
    form = TemplateForm(request.POST or None, initial={"channel": Channel.SMS})
    if request.method == "POST" and form.is_valid():
        saved = form.save(actor=request.user)
        if saved is not None:
            messages.success(request, _("Template saved as version %(number)s.") % _numbers(saved))
            return redirect("messaging:template", saved.template.pk)
    return _editor(request, form, None)


@requires("template", "view", post="edit")
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(MessageTemplate.objects.select_related("current_version"), pk=pk)
    form = TemplateForm(request.POST or None, template=template)
    if request.method == "POST" and form.is_valid():
        saved = form.save(actor=request.user)
        if saved is not None:
            if saved.changed:
                messages.success(
                    request, _("Template saved as version %(number)s.") % _numbers(saved)
                )
            else:
                messages.info(request, _("Nothing changed: no new version was saved."))
            return redirect("messaging:template", template.pk)
    return _editor(request, form, template)


def _numbers(saved: Saved) -> dict[str, int]:
    return {"number": saved.version.number}


def _editor(
    request: HttpRequest, form: TemplateForm, template: MessageTemplate | None
) -> HttpResponse:
    versions = (
        template.versions.select_related("created_by__staff_profile")
        if template is not None
        else TemplateVersion.objects.none()
    )
    return _render(
        request,
        "messaging/template.html",
        {
            "form": form,
            "template": template,
            "versions": versions,
            "can_edit": can(request.user, "template", "edit"),
            "variables": [(f"{{{{{v.chinese}}}}}", v) for v in VARIABLES],
            "customers": _customer_choices(request.user, ""),
        },
    )


@require_POST
@requires("template", "edit")
def template_restore(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Save an old version's content again, as the newest version."""
    template = get_object_or_404(MessageTemplate, pk=pk)
    old = get_object_or_404(TemplateVersion, template=template, number=number)
    try:
        saved = save_template(
            template.key,
            template.channel,
            name=template.name,
            actor=request.user,
            comment=_("Restored from version %(number)s") % {"number": number},
            **{name: getattr(old, name) for name in CONTENT},
        )
    except ValidationError as exc:
        # An old version may fail a check added since it was saved: say which, change nothing.
        messages.error(
            request,
            _("Version %(old)s cannot be restored: %(errors)s")
            % {"old": number, "errors": " ".join(exc.messages)},
        )
        return redirect("messaging:template", template.pk)
    if saved.changed:
        messages.success(
            request,
            _("Version %(old)s restored as version %(number)s.")
            % {"old": number, "number": saved.version.number},
        )
    else:
        messages.info(
            request, _("Version %(old)s is the current content already.") % {"old": number}
        )
    return redirect("messaging:template", template.pk)


def _customer_choices(user: Any, text: str) -> list[Customer]:
    """Customers to preview with, among those ``user`` may see: the newest ones, or those a
    search finds."""
    customers = visibility.visible(user)
    condition = search_q(text)
    if condition is None:
        return list(customers.order_by("-pk")[:CUSTOMER_CHOICES])
    return list(customers.filter(condition).order_by("pk")[:CUSTOMER_CHOICES])


@require_GET
@requires("template", "view")
def preview_customers(request: HttpRequest) -> HttpResponse:
    """The preview's customer choices for a search as it is typed (``<option>`` elements)."""
    return render(
        request,
        "messaging/_customer_options.html",
        {"customers": _customer_choices(request.user, request.GET.get("customer_q", "")[:100])},
    )


# A preview writes nothing: everyone who reads templates may try one.
@require_POST
@requires("template", "view", post="view")
def template_preview(request: HttpRequest) -> HttpResponse:
    """The text being written (or a saved ``version``) as the chosen customer would get it."""
    data = request.POST
    version_pk = data.get("version", "")
    if version_pk.isdigit():
        version = get_object_or_404(
            TemplateVersion.objects.select_related("template"), pk=small_id(version_pk) or 0
        )
        channel = version.template.channel
        content = {name: getattr(version, name) for name in CONTENT}
    else:
        channel = data.get("channel", "")
        content = {name: data.get(name, "") for name in CONTENT}
    chosen = data.get("preview_customer", "")
    customers = visibility.visible(request.user)
    customer = (
        customers.filter(pk=small_id(chosen) or 0).first()
        if chosen.isdigit()
        else customers.order_by("-pk").first()
    )
    context: dict[str, Any] = {
        "customer": customer,
        "signature": content.get("sms_signature", ""),
    }
    if customer is not None and content["body"].strip():
        try:
            context["shown"] = preview(content, channel, customer)
        except TemplateError as exc:
            context["error"] = str(exc)
    return _render(request, "messaging/_preview.html", context)


# ---------------------------------------------------------------- message log


@requires("message", "view")
def message_list(request: HttpRequest) -> HttpResponse:
    filters = log.MessageFilters.from_query(request.GET.dict())
    queryset = filters.apply(
        visibility.limit(
            request.user,
            Message.objects.select_related("customer", "rule", "template_version", "provider"),
        ),
        viewer_zone(request.user),
    )
    page = seek(
        queryset,
        order="-pk",  # newest first, answered by the primary key's index
        size=LOG_PAGE_SIZE,
        after=request.GET.get("after"),
        before=request.GET.get("before"),
    )
    context = {
        "page": page,
        "rows": [log.Row.of(message) for message in page.items],
        "filters": filters,
        "statuses": Message.Status.choices,
        "channels": Channel.choices,
        "rules": Rule.objects.order_by("name").only("pk", "name")[:500],
        "query": _query_without_cursor(request),
        "can_export": can(request.user, "message", "export"),
        "can_reveal": can(request.user, "customer", "reveal"),
        "filtered_customer": (
            Customer.objects.filter(pk=int(filters.customer)).first() if filters.customer else None
        ),
    }
    fragment = request.headers.get("HX-Request")
    template = "messaging/_messages.html" if fragment else "messaging/messages.html"
    return _render(request, template, context)


def _query_without_cursor(request: HttpRequest) -> str:
    params = request.GET.copy()
    for key in ("after", "before"):
        params.pop(key, None)
    return params.urlencode()


@requires("message", "view")
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(
        visibility.limit(request.user, Message.objects.all())
        .select_related("customer", "rule", "provider", "template_version__template")
        .prefetch_related("attempt_log", "clicks"),
        pk=pk,
    )
    customer = message.customer
    attempts = [
        (attempt, log.redact(attempt.error, customer), log.redact(attempt.answer, customer))
        for attempt in message.attempt_log.all()
    ]
    context = {
        "message": message,
        "text": log.for_display(message, ("subject", "body", "error", "to")),
        "note": log.status_note(message),
        "channel": log.channel_label(message),
        "decisions": log.decisions(message),
        "attempts": attempts,
        "clicks": sorted(message.clicks.all(), key=lambda click: click.clicked_at),
        "phone": customer.phone_masked if customer is not None and customer.phone else "",
    }
    return _render(request, "messaging/message.html", context)
