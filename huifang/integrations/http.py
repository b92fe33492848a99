"""Outbound HTTP for every channel that calls a URL (webhooks, robots, SMS gateways), and the
guard every outbound connection passes (``check_host``: SMTP too).

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

Requests go out on the standard library's ``http.client``, one kept-alive connection per
sending thread and provider: at a thousand messages a second, urllib3's extra layer cost a
quarter of a sending thread's time (``bench/dispatch.py``), and pinning the connection to the
checked address is one small ``connect``.

Hosts (or networks) in ``OUTBOUND_HTTP_ALLOW`` are exempt: an admin's decision, e.g. an SMS
gateway inside the company network.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from .base import Blocked, TransportError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedURL(ValueError):
    """A URL outbound HTTP refuses to call; the message says why, for the admin. ``blocked``
    when the refusal is for an internal address (not for a scheme, a port or a name that does
    not resolve): an attempt the audit log records (``integrations.outbound``)."""

    def __init__(self, message: str, *, blocked: Blocked | None = None) -> None:
        super().__init__(message)
        self.blocked = blocked


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


_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; Alibaba Cloud's metadata


def address_kind(address: Address) -> str:
    """Why ``address`` is not public, in one word for the audit log: ``loopback``,
    ``link-local`` (169.254.169.254, cloud metadata), ``unspecified``, ``multicast``,
    ``shared`` (100.64.0.0/10), ``private``, ``reserved``, else ``internal``. An IPv6 address
    carrying an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by what it carries."""
    inner = next((a for a in reversed(_embedded(address)) if not is_public(a)), address)
    if inner.is_loopback:
        return "loopback"
    if inner.is_link_local:
        return "link-local"
    if inner.is_unspecified:
        return "unspecified"
    if inner.is_multicast:
        return "multicast"
    if isinstance(inner, ipaddress.IPv4Address) and inner in _SHARED:
        return "shared"
    if inner.is_private:
        return "private"
    if inner.is_reserved:
        return "reserved"
    return "internal"


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
    url: str,
    *,
    allow: Sequence[str] | None = None,
    resolver: Resolver | None = None,
    unresolved_ok: bool = False,
) -> Target:
    """Where ``url`` would be called, or ``BlockedURL`` saying why it must not be.
    ``unresolved_ok``: a name that does not resolve passes (``Target.address`` is then
    empty) — for a URL we only hand on (a short link's redirect), never connect to."""
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
    address = check_host(host, port, allow=allow, resolver=resolver, unresolved_ok=unresolved_ok)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, address, path)


def check_host(
    host: str,
    port: int,
    *,
    allow: Sequence[str] | None = None,
    resolver: Resolver | None = None,
    unresolved_ok: bool = False,
) -> str:
    """The checked address a connection to ``host`` goes to (every address the host is or
    resolves to must be public, unless allowed), or ``BlockedURL``. For every outbound
    connection: HTTP (``check``) and SMTP alike."""
    allow = settings.HUIFANG_OUTBOUND_ALLOW if allow is None else allow
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
            if unresolved_ok:
                return ""
            raise BlockedURL(_("The host “%(host)s” could not be resolved.") % {"host": host})
    if not _allowed(host, addresses, allow):
        for address in addresses:
            if not is_public(address):
                raise BlockedURL(
                    _(
                        "“%(host)s” is (or resolves to) %(address)s, an internal address. "
                        "An administrator can allow it in OUTBOUND_HTTP_ALLOW."
                    )
                    % {"host": host, "address": address},
                    blocked=Blocked(host, port, str(address), address_kind(address)),
                )
    return str(addresses[0])


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


class _Pinned(http.client.HTTPConnection):
    """A plain connection to the checked address."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.address, target.port, timeout=timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    """TLS to the checked address; the certificate is verified against the URL's host."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=_tls())
        self.address = target.address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


Key = tuple[str, str, int, str]

# Connections kept open between messages to the same provider: one per sending thread.
_LOCAL = threading.local()
MAX_ANSWER = 1 << 20  # a provider's answer is a few hundred bytes; more is not read


class NetworkError(OSError):
    """The provider could not be reached or did not answer (``sent``: whether the request
    went out in full before it did not)."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


def _connection(key: Key, target: Target, timeout: float, keep: bool) -> http.client.HTTPConnection:
    kept: dict[Key, http.client.HTTPConnection] | None = getattr(_LOCAL, "connections", None)
    if keep and kept is None:
        kept = _LOCAL.connections = {}
    if keep and kept is not None and key in kept:
        connection = kept[key]
        if connection.sock is not None and _dropped(connection.sock):
            del kept[key]  # the server closed it while it was idle
            connection.close()
        else:
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            return connection
    made = _PinnedTLS(target, timeout) if target.scheme == "https" else _Pinned(target, timeout)
    if keep and kept is not None:
        kept[key] = made
    return made


def _dropped(sock: socket.socket) -> bool:
    """An idle kept connection with something to read has been closed by the server (or
    holds an answer nobody asked for): either way it is not used again."""
    try:
        readable, _w, _x = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _forget(key: Key) -> None:
    kept = getattr(_LOCAL, "connections", None)
    if kept is not None and (connection := kept.pop(key, None)) is not None:
        connection.close()


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    allow: Sequence[str] | None = None,
    resolver: Resolver | None = None,
    keep: bool = False,
) -> Response:
    """Call ``url`` after ``check``, connecting to the checked address; redirects are
    returned as they are, never followed. ``keep``: leave the connection open for the next
    call from this thread to the same place (a batch of messages to one provider).

    ``NetworkError`` when the server cannot be reached or does not answer in time."""
    target = (
        _checked(url, allow) if resolver is None else check(url, allow=allow, resolver=resolver)
    )
    key: Key = (target.scheme, target.host, target.port, target.address)
    default_port = 443 if target.scheme == "https" else 80
    host_header = f"[{target.host}]" if ":" in target.host else target.host  # IPv6 literal
    if target.port != default_port:
        host_header += f":{target.port}"
    sent = {"Host": host_header, "User-Agent": "Huifang", **(headers or {})}
    if body is not None or method in ("POST", "PUT", "PATCH"):
        sent["Content-Length"] = str(len(body or b""))
    for retry in (True, False):
        connection = _connection(key, target, timeout, keep)
        reused = connection.sock is not None
        delivered = False
        try:
            connection.putrequest(method, target.path, skip_host=True, skip_accept_encoding=True)
            for name, value in sent.items():
                connection.putheader(name, value)
            connection.endheaders(body)
            delivered = True
            answer = connection.getresponse()
            data = answer.read(MAX_ANSWER)
            result = Response(answer.status, dict(answer.getheaders()), data)
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            if keep:
                _forget(key)
            if retry and reused and not delivered:
                continue  # a kept connection that broke before the request went out
            if isinstance(exc, TimeoutError) and delivered:
                raise NetworkError(f"no answer within {timeout:g} s", sent=True) from None
            if isinstance(exc, TimeoutError):
                raise NetworkError(f"not reached within {timeout:g} s", sent=False) from None
            raise NetworkError(f"{type(exc).__name__}: {exc}", sent=delivered) from None
        if not (keep and not answer.will_close and answer.isclosed()):
            connection.close()  # not kept, or not fit to be used again
            if keep:
                _forget(key)
        return result
    raise AssertionError("unreachable")


def call(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Response:
    """``request`` for a transport, on connections kept open between calls: a refused URL is
    a permanent ``TransportError``; network trouble a transient one — an *uncertain* one when
    the request had gone out and no answer came back (a time-out waiting for it, a dropped
    connection), which the dispatcher never sends again."""
    try:
        return request(method, url, body=body, headers=headers, timeout=timeout, keep=True)
    except BlockedURL as exc:
        raise TransportError(
            str(exc), permanent=True, code="blocked_url", blocked=exc.blocked
        ) from None
    except NetworkError as exc:
        # Once the request went out in full, nobody can say whether the provider acted on it.
        raise TransportError(
            str(exc), permanent=False, code="network", uncertain=exc.sent
        ) from None


def post_json(url: str, payload: Any, *, timeout: float = 10.0) -> tuple[int, Any, str]:
    """POST ``payload`` as JSON (``call``); returns the status, the decoded JSON answer
    (``None`` if it is not JSON) and its text."""
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
