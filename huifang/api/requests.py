"""Every request within its limits before any view sees it (DESIGN.md invariant 10).

``RequestLimitsMiddleware`` answers, in the user's language and never with a 500:

- 413 for a body over ``API_MAX_BODY_BYTES`` (Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``) or a
  form with more fields than ``DATA_UPLOAD_MAX_NUMBER_FIELDS``;
- 400 for a NUL character in the path, a header, the query string or a submitted form
  (PostgreSQL stores no NUL, so such text could only fail later, half-way through a write);
- 400 for a JSON body that is not strict JSON (``NaN``, ``Infinity``), nests deeper than
  ``HUIFANG_JSON_MAX_DEPTH`` or holds a NUL: every body sent to ``/api/`` and every body sent
  as JSON elsewhere. Provider callbacks (``/inbound/``) read theirs with the same strict
  parser and answer in each provider's own format. A form or file upload to ``/api/`` (an
  import's file) has its fields checked as any form's; an operation that takes JSON refuses
  it with 400. Inbound sources (``/hooks/``) read theirs after checking its signature,
  within their own, smaller limit.

The parsed API body is kept for django-ninja (``StrictParser``), so it is read once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.translation import gettext as _
from ninja.parser import Parser

from huifang.core.limits import Refusal, load_json, nul_refusal

from .errors import error_response

_PARSED = "huifang.json_body"  # where the parsed body waits for the API's parser
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _too_large() -> Refusal:
    return Refusal(
        "too_large",
        _("The request body is larger than the limit of %(limit)s bytes.")
        % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
        status=413,
    )


def _check_fields(data: QueryDict) -> None:
    for key, values in data.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            raise nul_refusal(status=400, path=key.replace("\x00", ""))


def check_request(request: HttpRequest) -> None:
    """Raise ``Refusal`` when ``request`` is over a limit or holds what cannot be stored."""
    if "\x00" in request.path:
        raise nul_refusal(status=400)
    for name, value in request.META.items():
        if name.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
            raise nul_refusal(status=400, path=name[5:].replace("_", "-").title())
    declared = request.META.get("CONTENT_LENGTH") or "0"
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large()
    try:
        _check_fields(request.GET)
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        api = request.path.startswith("/api/")
        if api and request.content_type in _FORMS:
            # A file upload (imports): its fields are checked, not read as JSON. The body is
            # read first, so that an operation wanting JSON can still look at it (and refuse).
            assert request.body is not None
            _check_fields(request.POST)
        elif api or (_is_json(request.content_type or "") and not _own_parser(request)):
            if request.body:
                request.META[_PARSED] = load_json(request.body)
        elif request.content_type in _FORMS:
            _check_fields(request.POST)
    except RequestDataTooBig:
        raise _too_large() from None
    except TooManyFieldsSent:
        raise Refusal(
            "too_many_fields",
            _("A form may send at most %(limit)s fields.")
            % {"limit": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS},
            status=413,
        ) from None


def _own_parser(request: HttpRequest) -> bool:
    return request.path.startswith(("/inbound/", "/hooks/"))


class RequestLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            check_request(request)
        except Refusal as refusal:
            return answer(request, refusal)
        return self.get_response(request)


def answer(request: HttpRequest, refusal: Refusal) -> HttpResponse:
    """The refusal in the API's error shape for API and JSON requests, as text otherwise."""
    if request.path.startswith("/api/") or _is_json(request.content_type or ""):
        extra = {"field": refusal.path} if refusal.path else {}
        return error_response(refusal.status, refusal.code, refusal.message, **extra)
    return HttpResponse(
        refusal.message, status=refusal.status, content_type="text/plain; charset=utf-8"
    )


class StrictParser(Parser):
    """django-ninja's body parser: the body the middleware already read, else strict JSON."""

    def parse_body(self, request: HttpRequest) -> Any:
        if _PARSED in request.META:
            return request.META[_PARSED]
        if request.content_type in _FORMS:
            # Read as a form already (the stream is gone): this operation wanted JSON.
            raise Refusal(
                "not_json", _("This operation takes a JSON body (application/json)."), status=400
            )
        return load_json(request.body)
