"""Facts about an incoming request that several apps need the same way."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address: ``REMOTE_ADDR``; behind the one reverse proxy
    ``BEHIND_TLS_PROXY`` declares, the address that proxy saw — the last ``X-Forwarded-For``
    entry, the only one a client cannot forge. Sign-in lock-outs count against it and the
    audit log records it."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    if settings.HUIFANG_BEHIND_PROXY:
        forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR") or "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            pass
    return remote
