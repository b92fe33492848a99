"""Short links: every URL the organisation wrote into a message goes through ``/l/<token>``,
which counts the click.

The token names the message and the link's place in it, with an HMAC (keyed by the
deployment's secret) so it cannot be guessed or changed to another message's link. The URL
itself is kept on the message (``Message.links``): a click is redirected only to the URL the
rendered template put there, never to anything the request carries.

Only URLs the organisation wrote become short links: the template's follow-up URL and the URLs
in the template's own text (``written``). A URL that arrives in customer or event data (a
customer's "website" attribute, an order's tracking URL) stays in the text as it came, so our
domain never vouches for it, and a redirect is never an open one. At click time the target is
checked once more (``check_destination``): not http(s), an internal address, or outside
``LINK_DOMAINS`` when that is set, and the link leads nowhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from huifang.integrations.http import BlockedURL, check
from huifang.organisation.services import base_url

# http(s) URLs as they appear in text: stop at white space, quotes, angle brackets and the
# Chinese punctuation that commonly follows a link in a sentence.
URL = re.compile(r"https?://[^\s<>\"'，。；！？、）】》]+")
_TRAILING = ".,;:!?)]}"
_TOKEN = re.compile(r"([0-9a-z]+)-([0-9a-z]+)-([A-Za-z0-9_-]{11})")


def _digest(message_id: int, index: int) -> str:
    key = f"huifang.links:{settings.SECRET_KEY}".encode()
    mac = hmac.new(key, f"{message_id}.{index}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:8]).decode().rstrip("=")


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text


def token(message_id: int, index: int) -> str:
    return f"{_b36(message_id)}-{_b36(index)}-{_digest(message_id, index)}"


def parse(value: str) -> tuple[int, int] | None:
    """The message id and link index of a genuine token, else ``None``."""
    match = _TOKEN.fullmatch(value)
    if match is None:
        return None
    message_id, index = int(match.group(1), 36), int(match.group(2), 36)
    if not hmac.compare_digest(_digest(message_id, index), match.group(3)):
        return None
    return message_id, index


def short_url(message_id: int, index: int) -> str:
    return f"{base_url()}/l/{token(message_id, index)}"


# Where template syntax starts inside a URL the template wrote ("…?order={{订单号}}").
_SYNTAX = re.compile(r"\{[{%#]")
_PAST_HOST = re.compile(r"https?://[^/?#@]+[/?#]")


@dataclass(frozen=True)
class Written:
    """The URLs a template's own text holds: whole ones, and the fixed beginnings of those
    that continue with a variable (a beginning counts only when it goes past the host)."""

    whole: frozenset[str] = frozenset()
    beginnings: tuple[str, ...] = ()

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and (
            url in self.whole or any(url.startswith(b) for b in self.beginnings)
        )


def _strip(url: str) -> tuple[str, str]:
    tail = ""
    while url and url[-1] in _TRAILING:
        url, tail = url[:-1], url[-1] + tail
    return url, tail


@lru_cache(maxsize=256)  # once per template version, not once per message
def written(source: str) -> Written:
    """The URLs in a template's ``source`` as the organisation wrote them (before rendering)."""
    whole: set[str] = set()
    beginnings: list[str] = []
    for match in URL.finditer(source):
        syntax = _SYNTAX.search(match.group(0))
        if syntax is None:
            whole.add(_strip(match.group(0))[0])
            continue
        beginning = match.group(0)[: syntax.start()]
        # "https://{{域名}}/…" or "https://shop.cn{{路径}}" would let data choose the host.
        if _PAST_HOST.match(beginning):
            beginnings.append(beginning)
    return Written(frozenset(whole), tuple(beginnings))


def shorten(
    text: str,
    message_id: int,
    urls: list[str],
    *,
    keep: Callable[[str], bool],
    only: Written,
) -> str:
    """``text`` with each URL in ``only`` (what the organisation wrote: ``written``) replaced
    by its short link, appended to ``urls`` in order. URLs for which ``keep`` is true (our own
    unsubscribe links) and URLs that came from data stay as they are."""

    def replace(match: re.Match[str]) -> str:
        url, tail = _strip(match.group(0))
        if keep(url) or url not in only:
            return url + tail
        if url in urls:
            index = urls.index(url)
        else:
            urls.append(url)
            index = len(urls) - 1
        return short_url(message_id, index) + tail

    return URL.sub(replace, text)


def ours(url: str) -> bool:
    """Whether ``url`` leads to this installation's own questionnaire pages: only the
    dispatcher puts such a link on a message (a personal questionnaire link), and a
    self-hosted installation may well live at an internal address."""
    return url.startswith(f"{base_url()}/s/")


def shown(url: str) -> str:
    """``url`` as staff see it (a click on the timeline, the clicks kept): a personal
    questionnaire link loses its token — it is the customer's key to their answers."""
    if ours(url):
        return f"{base_url()}/s/…/"
    return url


def check_destination(url: str) -> None:
    """``BlockedURL`` saying why a click must not be redirected to ``url``.

    The outbound guard's own test (``integrations.http.check``): http(s) only, and no host
    that is or resolves to a private, loopback, link-local or metadata address, in any
    spelling — the customer's browser would follow us there, from wherever it is (the
    error's ``blocked`` then says which address). A name that does not resolve here is let
    through (our DNS need not be the customer's; we never connect to it). With
    ``LINK_DOMAINS`` set, only those domains and their subdomains."""
    check(url, allow=[], unresolved_ok=True)
    domains = settings.HUIFANG_LINK_DOMAINS
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if domains and not any(host == d or host.endswith(f".{d}") for d in domains):
        raise BlockedURL(
            _("“%(host)s” is not one of the link domains (LINK_DOMAINS).") % {"host": host}
        )
