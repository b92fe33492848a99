"""Outbound HTTP for every channel that calls a URL (webhooks, robots, SMS gateways).

DESIGN.md invariant 8: a URL an admin typed must not become a way into the internal network.
Before any request:

- the scheme is ``http`` or ``https``;
- the host is resolved here, and **every** address it resolves to must be a public one
  (``ipaddress``'s ``is_global``), looking through IPv4-mapped, 6to4, Teredo and NAT64 forms;
  numeric hosts in any spelling the C library accepts (``0177.0.0.1``, ``2130706433``,
  ``0x7f.1``) are read the way the resolver would read them, then checked;
- the connection goes to the address that was checked (TLS still verifies the certificate
  against the host name), so a second DNS answer cannot point it elsewhere;
- redirects are never followed.

Hosts (or networks) in ``OUTBOUND_HTTP_ALLOW`` are exempt: an admin's decision, e.g. an SMS
gateway inside the company network.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.utils.translation import gettext as _

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedURL(ValueError):
    """A URL outbound HTTP refuses to call; the message says why, for the admin."""


def _system_resolver(host: str, port: int) -> list[str]:
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return [str(info[4][0]) for info in answers]


def _embedded(address: Address) -> list[Address]:
    """The address and any IPv4 address carried inside an IPv6 one."""
    found: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        for inner in (address.ipv4_mapped, address.sixtofour):
            if inner is not None:
                found.append(inner)
        if address.teredo is not None:
            found.extend(address.teredo)
        if address in _NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_public(address: Address) -> bool:
    return all(inner.is_global and not inner.is_multicast for inner in _embedded(address))


def _numeric(host: str) -> Address | None:
    """A host that is an address, in any spelling ``inet_aton`` accepts (octal, hex, short)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _allowed(host: str, addresses: Sequence[Address], allow: Sequence[str]) -> bool:
    for entry in allow:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == host.lower():
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if addresses and all(a in network for a in addresses):
            return True
    return False


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    address: str  # the checked address the connection goes to
    path: str  # path and query


def check(
    url: str, *, allow: Sequence[str] | None = None, resolver: Resolver | None = None
) -> Target:
    """Where ``url`` would be called, or ``BlockedURL`` saying why it must not be."""
    allow = settings.HUIFANG_OUTBOUND_ALLOW if allow is None else allow
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise BlockedURL(_("Only http and https URLs can be called."))
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BlockedURL(_("The URL has no host."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BlockedURL(_("The URL's port is not a number from 1 to 65535.")) from None
    numeric = _numeric(host)
    if numeric is not None:
        addresses: list[Address] = [numeric]
    else:
        answers = (resolver or _system_resolver)(host, port)
        addresses = []
        for answer in answers:
            try:
                addresses.append(ipaddress.ip_address(answer.split("%")[0]))
            except ValueError:
                continue
        if not addresses:
            raise BlockedURL(_("The host “%(host)s” could not be resolved.") % {"host": host})
    if not _allowed(host, addresses, allow):
        for address in addresses:
            if not is_public(address):
                raise BlockedURL(
                    _(
                        "“%(host)s” is (or resolves to) %(address)s, an internal address. "
                        "An administrator can allow it in OUTBOUND_HTTP_ALLOW."
                    )
                    % {"host": host, "address": address}
                )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, str(addresses[0]), path)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


# A URL checked (and its host resolved) stays checked this long: a batch of messages to one
# provider does not resolve its host once per message. The connection still goes to the
# address that was checked, so a changed DNS answer is only seen after the interval.
CHECK_SECONDS = 30.0
_CHECKS: dict[tuple[str, tuple[str, ...]], tuple[float, Target]] = {}


def _checked(url: str, allow: Sequence[str] | None) -> Target:
    allowed = tuple(settings.HUIFANG_OUTBOUND_ALLOW if allow is None else allow)
    key = (url, allowed)
    now = time.monotonic()
    found = _CHECKS.get(key)
    if found is not None and found[0] > now:
        return found[1]
    target = check(url, allow=allowed)
    if len(_CHECKS) > 1000:  # URLs carry per-request signatures (robots): keep it small
        _CHECKS.clear()
    _CHECKS[key] = (now + CHECK_SECONDS, target)
    return target


# Connections kept open between messages to the same provider, whichever thread sends them.
_SHARED: dict[Any, urllib3.HTTPConnectionPool] = {}
_LOCK = threading.Lock()


def _pool(target: Target) -> urllib3.HTTPConnectionPool:
    # A connection per sending thread at most; more would only wait for the provider.
    options: dict[str, Any] = {"retries": False, "maxsize": 16, "block": False}
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            **options,
        )
    return urllib3.HTTPConnectionPool(target.address, target.port, **options)


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    allow: Sequence[str] | None = None,
    resolver: Resolver | None = None,
    pool: dict[Any, urllib3.HTTPConnectionPool] | None = None,
) -> Response:
    """Call ``url`` after ``check``, connecting to the checked address; redirects are
    returned as they are, never followed. ``pool``: connections to re-use across calls (a
    batch of messages to one provider)."""
    target = (
        _checked(url, allow) if resolver is None else check(url, allow=allow, resolver=resolver)
    )
    key = (target.scheme, target.host, target.port, target.address)
    connections = pool if pool is not None else {}
    if key not in connections:
        with _LOCK:
            if key not in connections:
                connections[key] = _pool(target)
    default_port = 443 if target.scheme == "https" else 80
    host_header = f"[{target.host}]" if ":" in target.host else target.host  # IPv6 literal
    if target.port != default_port:
        host_header += f":{target.port}"
    sent = {"Host": host_header, "User-Agent": "Huifang", **(headers or {})}
    try:
        answer = connections[key].urlopen(
            method,
            target.path,
            body=body,
            headers=sent,
            redirect=False,
            retries=False,
            timeout=urllib3.Timeout(total=timeout),
        )
    finally:
        if pool is None:
            for connection in connections.values():
                connection.close()
    return Response(answer.status, dict(answer.headers), answer.data)


def call(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Response:
    """``request`` for a transport, on connections kept open between calls: a refused URL is
    a permanent ``TransportError``, network trouble (refused connection, time-out) a transient
    one."""
    from .base import TransportError

    try:
        return request(method, url, body=body, headers=headers, timeout=timeout, pool=_SHARED)
    except BlockedURL as exc:
        raise TransportError(str(exc), permanent=True, code="blocked_url") from None
    except urllib3.exceptions.HTTPError as exc:
        raise TransportError(
            f"{type(exc).__name__}: {exc}", permanent=False, code="network"
        ) from None


def post_json(url: str, payload: Any, *, timeout: float = 10.0) -> tuple[int, Any, str]:
    """POST ``payload`` as JSON (``call``); returns the status, the decoded JSON answer
    (``None`` if it is not JSON) and its text."""
    import json

    answer = call(
        "POST",
        url,
        body=json.dumps(payload, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        timeout=timeout,
    )
    try:
        decoded = json.loads(answer.body or b"null")
    except ValueError:
        decoded = None
    return answer.status, decoded, answer.text()[:2000]
