"""A fixed-window request counter for public pages that write (DESIGN.md invariant 10).

Sign-in has django-axes and revealing personal details counts audit entries; a page opened by a
signed link (a questionnaire's answer page) needs only "at most N writes per link per window".
The count lives in Django's cache: with the default local-memory cache each web process keeps
its own, so the bound is per process (``WEB_CONCURRENCY`` times the limit at worst), which still
caps what one link can make the server do.
"""

from __future__ import annotations

import time

from django.core.cache import cache


def allow(scope: str, key: str, *, limit: int, window: int, now: float | None = None) -> bool:
    """Count one request for ``key`` in ``scope``; False once ``limit`` requests were counted
    in the current window of ``window`` seconds."""
    moment = time.time() if now is None else now
    slot = int(moment // window)
    name = f"throttle:{scope}:{key}:{slot}"
    # add() is atomic where the cache is shared; the window's key expires with the window.
    cache.add(name, 0, timeout=window + 1)
    try:
        count = cache.incr(name)
    except ValueError:  # evicted between add() and incr(): this request starts the count
        cache.set(name, 1, timeout=window + 1)
        count = 1
    return count <= limit
