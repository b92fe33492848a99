"""The error pages (403, 404, 500, a refused form): in the site's layout and the reader's
language, with a way back, instead of Django's bare English ones. The API answers its own
errors as JSON (``huifang.api.errors``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _


def _page(request: HttpRequest, status: int, title: str, text: str, **extra: Any) -> HttpResponse:
    context = {"status": status, "title": title, "text": text, **extra}
    return render(request, "errors/error.html", context, status=status)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(
        request,
        403,
        _("You cannot open this page"),
        _(
            "Your role does not include it. If you need it for your work, ask an "
            "administrator to change your role."
        ),
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(
        request,
        404,
        _("Page not found"),
        _("The address may be mistyped, or what it showed has been deleted or moved."),
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form refused by the CSRF check: most often a page left open across a sign-in or a
    restart. Nothing was saved; sending the form again from a fresh page works."""
    return _page(
        request,
        403,
        _("The form has expired"),
        _(
            "Nothing was saved. The page was probably open for a long time or you signed in "
            "again elsewhere. Go back, reload the page and send the form again."
        ),
        back=_same_site(request, request.META.get("HTTP_REFERER", "")),
    )


def _same_site(request: HttpRequest, url: str) -> str:
    """``url`` when it is a page of this site (the form's page), else nothing."""
    allowed = url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return url if url and allowed else ""


def server_error(request: HttpRequest) -> HttpResponse:
    """Rendered without the layout's context (no database, no user): whatever failed may be
    what the layout would need. Still styled, phone-sized and in the reader's language."""
    page = loader.get_template("errors/500.html").render({"status": 500})
    return HttpResponse(page, status=500)
