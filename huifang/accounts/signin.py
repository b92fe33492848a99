"""Signing in: who is counted (django-axes' lock-out), what the locked-out see, what is logged.

django-axes counts failed sign-ins per username and per address (``AXES_*`` in settings) on
every path that calls ``django.contrib.auth.authenticate`` with a request: the site's login page
and the admin's. The three receivers below write each attempt to the ``huifang.signin`` log —
username and address, never the password. They are the hook points for the audit log too:
Django's ``user_logged_in`` / ``user_login_failed`` and axes' ``user_locked_out``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import ngettext

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.core.requests import client_ip

logger = logging.getLogger("huifang.signin")


def _minutes() -> int:
    return int(settings.HUIFANG_LOGIN_COOLOFF_MINUTES)


def lockout_message() -> str:
    minutes = _minutes()
    return ngettext(
        "Too many failed sign-ins for this username or from this computer. Try again in "
        "%(minutes)d minute, or ask an administrator to unlock it.",
        "Too many failed sign-ins for this username or from this computer. Try again in "
        "%(minutes)d minutes, or ask an administrator to unlock it.",
        minutes,
    ) % {"minutes": minutes}


def locked_out(
    request: HttpRequest, response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """What a locked-out sign-in answers (axes' ``AXES_LOCKOUT_CALLABLE``): 429, with
    ``Retry-After``; the error envelope of the API for a client that asked for JSON."""
    message = lockout_message()
    wants_json = "application/json" in request.headers.get("Accept", "") or (
        request.headers.get("X-Requested-With") == "XMLHttpRequest"
    )
    if wants_json:
        answer: HttpResponse = JsonResponse(
            {"error": {"code": "locked_out", "message": message}}, status=429
        )
    else:
        answer = render(
            request,
            "registration/locked_out.html",
            {"message": message, "minutes": _minutes()},
            status=429,
        )
    answer["Retry-After"] = str(_minutes() * 60)
    return answer


def _username(credentials: dict[str, Any] | None) -> str:
    # The credentials Django hands over are already cleansed of the password; only the
    # username is read from them.
    return str((credentials or {}).get("username") or "")


def log_failure(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_kw: Any
) -> None:
    """Django's ``user_login_failed``: a wrong password, an unknown user, or a locked-out try."""
    logger.warning(
        "sign-in failed: username=%r ip=%s path=%s",
        _username(credentials),
        client_ip(request) if request else "-",
        request.path if request else "-",
    )


def log_lockout(
    sender: Any, request: HttpRequest, username: str | None, ip_address: str, **_kw: Any
) -> None:
    """axes' ``user_locked_out``: this failure reached the limit (or came during a lock-out)."""
    logger.warning(
        "sign-in locked out: username=%r ip=%s for %d minutes",
        username or "",
        ip_address,
        _minutes(),
    )
    record(
        Entry.Action.SIGN_IN_FAILED,
        "locked out",
        request=request,
        object_type="auth.user",
        object_repr=(username or "")[:150],
        details={"username": (username or "")[:150], "minutes": _minutes()},
    )


def log_success(sender: Any, request: HttpRequest | None, user: Any, **_kw: Any) -> None:
    """Django's ``user_logged_in``."""
    logger.info(
        "signed in: username=%r ip=%s",
        user.get_username(),
        client_ip(request) if request else "-",
    )
