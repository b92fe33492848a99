"""A password an administrator made (a new account, a reset) is changed before anything else:
until then every page leads to the password page. The password page, signing out, the
language switch, static files, the API and the two-step sign-in pages stay open."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

OPEN = ("/logout/", "/i18n/", "/static/", "/api/", "/health/", "/settings/two-factor/")


class ChangeMadePassword:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            profile = getattr(user, "staff_profile", None)
            page = reverse("accounts:password")
            if (
                profile is not None
                and profile.must_change_password
                and request.path != page
                and not request.path.startswith(OPEN)
            ):
                messages.info(request, _("Choose your own password first: yours was made for you."))
                return redirect(page)
        return self.get_response(request)
