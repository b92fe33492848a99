"""The endpoint sources push to, and the pages administrators set sources up on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from huifang.accounts.permissions import public, requires
from huifang.integrations.secrets import UnreadableSecrets
from huifang.organisation.services import base_url

from . import services
from .forms import MappingForm, NewSourceForm, TryForm
from .models import Received, Source
from .ready import READY

LOG_ROWS = 50


def _json(answer: services.Answer) -> JsonResponse:
    return JsonResponse(
        answer.body, status=answer.status, json_dumps_params={"ensure_ascii": False}
    )


def _error(status: int, code: str, message: str) -> JsonResponse:
    return _json(services.Refused(status, code, message).answer())


@public("each request is signed with the source's secret (HMAC-SHA256 with a timestamp)")
@csrf_exempt  # order systems have no CSRF token: the signature is the key
def hook(request: HttpRequest, slug: str) -> HttpResponse:
    if request.method != "POST":
        return _error(405, "method_not_allowed", _("Send the payload with POST."))
    source = Source.objects.filter(slug=slug).first()
    if source is None:
        return _error(404, "not_found", _("No source has this address."))
    limit = settings.HUIFANG_SOURCES_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > limit:
        return _error(
            413,
            "too_large",
            _("The payload is larger than the limit of %(limit)s bytes.") % {"limit": limit},
        )
    answer = services.receive(
        source,
        request.body,
        timestamp=request.headers.get("X-Huifang-Timestamp", ""),
        signature=request.headers.get("X-Huifang-Signature", ""),
    )
    return _json(answer)


# -- pages ------------------------------------------------------------------------------------


@requires("source", "manage")
def source_list(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - timedelta(days=settings.HUIFANG_SOURCES_LOG_DAYS)
    counts = {
        status: Count(
            "received", filter=Q(received__status=status, received__received_at__gte=since)
        )
        for status in Received.Status.values
    }
    sources = Source.objects.annotate(**counts).order_by("name")
    context = {"sources": sources, "days": settings.HUIFANG_SOURCES_LOG_DAYS}
    return render(request, "sources/list.html", context)


@requires("source", "manage")
def new(request: HttpRequest) -> HttpResponse:
    form = NewSourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        source, secret = services.create_source(
            name=form.cleaned_data["name"],
            slug=form.cleaned_data["slug"],
            ready=form.cleaned_data["ready"],
            actor=request.user,
            request=request,
        )
        # Shown once, in this answer: the secret is never kept anywhere readable (not even in
        # the session for a redirect).
        messages.success(
            request, _("The source is ready. Give its address and secret to the sending system.")
        )
        return render(request, "sources/detail.html", _context(request, source, secret=secret))
    return render(request, "sources/new.html", {"form": form, "ready": READY.values()})


def _context(request: HttpRequest, source: Source, **extra: Any) -> dict[str, Any]:
    secret = extra.pop("secret", "")
    try:
        unreadable = not source.secret
    except UnreadableSecrets:
        unreadable = True
    ready = READY.get(source.ready)
    return {
        "source": source,
        "url": base_url() + reverse("hooks:receive", args=[source.slug]),
        "secret": secret,
        "unreadable": unreadable,
        "mapping_form": extra.pop("mapping_form", None)
        or MappingForm(initial={"mapping": source.mapping}),
        "try_form": extra.pop("try_form", None)
        or TryForm(initial={"payload": ready.sample_text if ready else ""}),
        "log": source.received.all()[:LOG_ROWS],
        "ready": ready,
        **extra,
    }


@requires("source", "manage")
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    return render(request, "sources/detail.html", _context(request, source))


@require_POST
@requires("source", "manage")
def save_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    form = MappingForm(request.POST)
    if not form.is_valid():
        context = _context(request, source, mapping_form=form)
        return render(request, "sources/detail.html", context, status=422)
    services.save_mapping(source, form.cleaned_data["mapping"], actor=request.user, request=request)
    messages.success(request, _("The mapping is saved: payloads from now on are read with it."))
    return redirect("sources:detail", pk=source.pk)


@require_POST
@requires("source", "manage")
def try_payload(request: HttpRequest, pk: int) -> HttpResponse:
    """What a pasted payload would become under the mapping being edited (or the saved one);
    nothing is written."""
    source = get_object_or_404(Source, pk=pk)
    form = TryForm(request.POST)
    trial = None
    mapping_form = None
    if form.is_valid():
        document = form.cleaned_data["mapping"] or source.mapping
        trial = services.try_payload(source, document, form.cleaned_data["payload"])
        mapping_form = MappingForm(initial={"mapping": document})
    context = _context(request, source, try_form=form, trial=trial, mapping_form=mapping_form)
    return render(request, "sources/detail.html", context)


@require_POST
@requires("source", "manage")
def reveal(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    try:
        secret = services.reveal_secret(source, actor=request.user, request=request)
    except UnreadableSecrets:
        messages.error(
            request, _("The secret cannot be read any more (the key changed): rotate it.")
        )
        return redirect("sources:detail", pk=source.pk)
    return render(request, "sources/detail.html", _context(request, source, secret=secret))


@require_POST
@requires("source", "manage")
def rotate(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    secret = services.rotate_secret(source, actor=request.user, request=request)
    messages.warning(
        request, _("A new secret is in force; requests signed with the old one are refused.")
    )
    return render(request, "sources/detail.html", _context(request, source, secret=secret))


@require_POST
@requires("source", "manage")
def toggle(request: HttpRequest, pk: int) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    services.set_active(source, not source.active, actor=request.user, request=request)
    if source.active:
        messages.success(request, _("The source is active again."))
    else:
        messages.info(request, _("The source is paused: its pushes are refused with 409."))
    return redirect("sources:detail", pk=source.pk)


@requires("source", "manage")
def received(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """One logged request: its answer and the masked payload."""
    source = get_object_or_404(Source, pk=pk)
    row = source.received.filter(pk=number).first()
    if row is None:
        raise Http404
    return render(request, "sources/received.html", {"source": source, "row": row})
