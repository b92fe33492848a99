from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def fragment_login_required(view: View) -> View:
    """``login_required`` for the pieces htmx fetches into a page (the bell).

    Once the session has ended, htmx would follow the login redirect and paste the login form
    into the navbar; instead it is told to reload the page, which then goes to the login form
    the usual way, with ``next`` set to the page.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if request.headers.get("HX-Request"):
            return HttpResponse(status=403, headers={"HX-Refresh": "true"})
        return redirect_to_login(request.get_full_path())

    return wrapped
