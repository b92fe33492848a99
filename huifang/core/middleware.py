"""Response headers every page needs that Django's own middleware does not set."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control


class PrivatePagesNotStored:
    """``Cache-Control: private, no-store`` on what a signed-in user is answered, unless the
    view said otherwise: staff pages hold customers' personal data, a new API token, a
    revealed phone number — none of it may stay in a shared proxy's cache or on the disk of
    a shared computer after sign-out. (The secret pages themselves also say so, with
    ``never_cache``, so they stay uncached whatever this middleware becomes.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response
