"""Short links: every URL in a message goes through ``/l/<token>``, which counts the click.

The token names the message and the link's place in it, with an HMAC (keyed by the
deployment's secret) so it cannot be guessed or changed to another message's link. The URL
itself is kept on the message (``Message.links``): a click is redirected only to the URL the
rendered template put there, never to anything the request carries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable

from django.conf import settings

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
    return f"{settings.HUIFANG_BASE_URL}/l/{token(message_id, index)}"


def shorten(text: str, message_id: int, urls: list[str], *, keep: Callable[[str], bool]) -> str:
    """``text`` with each URL replaced by its short link, appended to ``urls`` in order.
    URLs for which ``keep`` is true (our own unsubscribe links) stay as they are."""

    def replace(match: re.Match[str]) -> str:
        url = match.group(0)
        tail = ""
        while url and url[-1] in _TRAILING:
            url, tail = url[:-1], url[-1] + tail
        if keep(url):
            return url + tail
        if url in urls:
            index = urls.index(url)
        else:
            urls.append(url)
            index = len(urls) - 1
        return short_url(message_id, index) + tail

    return URL.sub(replace, text)
