"""The second factor: a TOTP code from an authenticator app (django-otp), after the password.

Anyone may turn it on for their own account; ``ADMIN_TOTP_REQUIRED`` makes it compulsory for
administrators (the admin role, or access to /admin/). A session that passed the password but
not the code can open only the two-factor pages until the code is given: the middleware below
sends every other page there, /admin/ included. The API is not affected — it signs in with
tokens, never with the session.
"""

from __future__ import annotations

import logging
from base64 import b32encode
from collections.abc import Callable
from typing import Any

import segno
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django_otp.plugins.otp_totp.models import TOTPDevice

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.core.requests import client_ip

from .roles import Role, has_role

logger = logging.getLogger("huifang.signin")

# Open to a session that has given its password but not yet its code.
EXEMPT_PREFIXES = ("/settings/two-factor/", "/logout/", "/i18n/", "/static/", "/api/", "/health/")


def is_admin(user: Any) -> bool:
    return bool(user.is_staff or user.is_superuser or has_role(user, Role.ADMIN))


def must_enrol(user: Any) -> bool:
    return bool(settings.HUIFANG_ADMIN_TOTP_REQUIRED) and is_admin(user)


def confirmed_device(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def pending_device(user: Any) -> TOTPDevice:
    """The device being set up: its secret is shown until a code from it confirms it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name="Huifang", confirmed=False)


def qr_svg(device: TOTPDevice) -> SafeString:
    """The device's ``otpauth://`` address as an inline SVG QR code, drawn here: no image
    service sees the secret."""
    svg = segno.make(device.config_url, error="m").svg_inline(scale=5, border=2, light="#fff")
    return mark_safe(svg)  # noqa: S308 - segno's own SVG of a URL it encoded


def secret_text(device: TOTPDevice) -> str:
    """The secret for typing in by hand: base32 in groups of four."""
    raw = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def log_code(request: HttpRequest, *, ok: bool, what: str) -> None:
    logger.log(
        logging.INFO if ok else logging.WARNING,
        "%s: username=%r ip=%s",
        what,
        request.user.get_username(),
        client_ip(request),
    )
    if not ok:
        action = Entry.Action.SIGN_IN_FAILED
    elif what.endswith("passed"):
        action = Entry.Action.SIGN_IN
    else:  # turned on or off: a change to the account
        action = Entry.Action.STAFF
    record(
        action,
        what[:40],
        request=request,
        target=request.user,  # type: ignore[arg-type]
    )


class TwoFactorMiddleware:
    """Until a signed-in session gives its code, every page sends it to the code page (or,
    for an administrator who must have a second factor and has none, to set one up)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not request.path.startswith(EXEMPT_PREFIXES)
            and not user.is_verified()  # type: ignore[union-attr,attr-defined]
        ):
            if confirmed_device(user) is not None:
                return redirect_to_login(
                    request.get_full_path(), reverse("accounts:two_factor_verify")
                )
            if must_enrol(user):
                return redirect_to_login(request.get_full_path(), reverse("accounts:two_factor"))
        return self.get_response(request)
