"""Every API error is ``{"error": {"code": …, "message": …}}``: a machine code and a human text."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from huifang.core.limits import Refusal
from huifang.core.validation import message_for

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def refused(exc: DjangoValidationError, code: str = "invalid") -> ApiError:
    """A service's ``ValidationError`` as the API's 422: its first message, naming its field
    when it has one (the pages show the same messages next to their fields)."""
    if hasattr(exc, "error_dict"):
        field, errors = next(iter(exc.error_dict.items()))
        message = " ".join(str(m) for e in errors for m in e.messages)
        return ApiError(422, code, message, field=None if field == "__all__" else field)
    return ApiError(422, code, " ".join(exc.messages))


def error_response(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    body: dict[str, Any] = {"code": code, "message": message, **extra}
    return JsonResponse({"error": body}, status=status, json_dumps_params={"ensure_ascii": False})


def _validation_details(exc: ValidationError) -> list[dict[str, str]]:
    details = []
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "payload", "query")]
        details.append(
            {
                "field": ".".join(loc),
                "code": str(err.get("type", "invalid")),
                "message": message_for(err),
            }
        )
    return details


def install(api: NinjaAPI) -> None:
    def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    def on_refusal(request: HttpRequest, exc: Refusal) -> HttpResponse:
        extra = {"field": exc.path} if exc.path else {}
        return error_response(exc.status, exc.code, exc.message, **extra)

    def on_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        details = _validation_details(exc)
        first = details[0] if details else {"field": "", "message": ""}
        message = _("The request is not valid: %(field)s: %(message)s") % first
        return error_response(422, "validation_error", message, details=details)

    def on_auth(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return error_response(
            401,
            "not_authenticated",
            _("Send an API token in the header Authorization: Bearer <token>."),
        )

    def on_http(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc.__cause__, Refusal):  # the body parser's own words, not ninja's
            return on_refusal(request, exc.__cause__)
        codes = {
            400: "bad_request",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
            429: "throttled",
        }
        return error_response(exc.status_code, codes.get(exc.status_code, "error"), str(exc))

    def on_404(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(404, "not_found", _("Not found."))

    def on_other(request: HttpRequest, exc: Exception) -> HttpResponse:
        log.exception("API error on %s", request.path)
        return error_response(
            500, "internal_error", _("Something went wrong on our side; nothing was changed.")
        )

    # django-ninja types handlers as taking "exception or exception class"; ours take instances.
    handlers: list[tuple[type[Exception], Any]] = [
        (ApiError, on_api_error),
        (ValidationError, on_validation),
        (Refusal, on_refusal),
        (AuthenticationError, on_auth),
        (HttpError, on_http),
        (Http404, on_404),
        (Exception, on_other),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)


class JsonErrorsMiddleware:
    """Answers for ``/api/`` paths that never reach django-ninja (unknown path, wrong method)
    get the same JSON error shape as everything else in the API."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code not in (404, 405):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code == 404:
            return error_response(404, "not_found", _("There is no such API endpoint."))
        allowed = response.get("Allow", "")
        answer = error_response(
            405,
            "method_not_allowed",
            _("This endpoint does not accept %(method)s.") % {"method": request.method},
        )
        if allowed:
            answer["Allow"] = allowed
        return answer
