from __future__ import annotations

import math

from django.contrib import messages
from django.contrib.auth.password_validation import password_validators_help_texts
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from huifang.core.pagination import seek

from . import twofactor
from .forms import CodeForm, OwnPasswordForm, TokenForm
from .models import ApiToken, Notification, NotificationQuerySet, is_site_path
from .permissions import ACTIONS, OBJECTS, PRINCIPAL_NAMES, TABLE, requires
from .services import change_password, mark_all_read

NOTIFICATIONS_PAGE_SIZE = 20
BELL_MENU_SIZE = 5


@never_cache  # a new token's secret is shown once: never kept by a cache or the browser
@requires("token", "manage")
def tokens(request: HttpRequest) -> HttpResponse:
    secret = None
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _token, secret = ApiToken.issue(
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            created_by=request.user,
            request=request,
        )
        form = TokenForm()
    return render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "secret": secret,
            "tokens": ApiToken.objects.select_related("created_by"),
        },
    )


@require_POST
@requires("token", "manage")
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk)
    token.revoke(actor=request.user, request=request)
    messages.success(
        request,
        _("The token “%(name)s” is revoked; requests with it now fail.") % {"name": token.name},
    )
    return redirect("accounts:tokens")


@never_cache  # passwords are typed here: never kept by a cache or the browser
@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@requires("account", "own")
def password(request: HttpRequest) -> HttpResponse:
    """Any member of staff changes their own password: the old one first, then a new one
    that passes ``AUTH_PASSWORD_VALIDATORS``."""
    form = OwnPasswordForm(request.user, request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        change_password(
            user=request.user, password=form.cleaned_data["new_password1"], request=request
        )
        messages.success(
            request,
            _(
                "Your password is changed. You stay signed in here; everywhere else you were "
                "signed in, you are now signed out."
            ),
        )
        return redirect("accounts:password")
    # The policy in words; validators with nothing to say (the password file's) left out.
    rules = [text for text in password_validators_help_texts() if text]
    return render(request, "accounts/password.html", {"form": form, "rules": rules})


def _mine(request: HttpRequest) -> NotificationQuerySet:
    # By id: an anonymous visitor (id None) would match nothing, should a decorator be missed.
    return Notification.objects.filter(recipient_id=request.user.pk)


@requires("account", "own")
def notifications(request: HttpRequest) -> HttpResponse:
    mine = _mine(request)
    page = seek(
        mine,
        order="-created_at",
        size=NOTIFICATIONS_PAGE_SIZE,
        after=request.GET.get("after"),
        before=request.GET.get("before"),
    )
    return render(
        request,
        "accounts/notifications.html",
        {"page": page, "unread_count": mine.unread().count()},
    )


# Marking read is idempotent and harmless, so opening is a plain link: it works in a new tab.
@require_GET
@requires("account", "own")
def open_notification(request: HttpRequest, pk: int) -> HttpResponse:
    # Someone else's notification is a 404, not a 403: whether it exists is not theirs to know.
    notification = get_object_or_404(_mine(request), pk=pk)
    notification.mark_read()
    # Checked again here: rows written around ``notify`` never passed the validator.
    if notification.url and is_site_path(notification.url):
        return HttpResponseRedirect(notification.url)
    return redirect("accounts:notifications")


@require_POST
@requires("account", "own")
def mark_all_notifications_read(request: HttpRequest) -> HttpResponse:
    count = mark_all_read(user=request.user)
    if count:
        messages.success(
            request,
            ngettext(
                "%(count)d notification marked as read.",
                "%(count)d notifications marked as read.",
                count,
            )
            % {"count": count},
        )
    return redirect("accounts:notifications")


@require_GET
@requires("account", "own", fragment=True)
def notification_count(request: HttpRequest) -> HttpResponse:
    """The bell's badge, polled by every open page."""
    unread = _mine(request).unread().count()
    return render(request, "accounts/_notification_count.html", {"unread_count": unread})


@require_GET
@requires("account", "own", fragment=True)
def notification_menu(request: HttpRequest) -> HttpResponse:
    """The bell's dropdown, fetched each time it opens so it is never stale."""
    latest = _mine(request)[:BELL_MENU_SIZE]
    return render(request, "accounts/_notification_menu.html", {"latest": latest})


def _next(request: HttpRequest) -> str:
    """Where to go once the code is given: a path on this site, else the home page."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and safe else "/"


def _code_refused(device: TOTPDevice, code: str) -> str | None:
    """Why ``code`` does not pass for ``device``, or None when it does (and is now used up)."""
    allowed, why = device.verify_is_allowed()
    if not allowed:
        seconds = max(1, math.ceil((why["locked_until"] - timezone.now()).total_seconds()))
        return ngettext(
            "Too many wrong codes. Wait %(seconds)d second, then try again.",
            "Too many wrong codes. Wait %(seconds)d seconds, then try again.",
            seconds,
        ) % {"seconds": seconds}
    if device.verify_token(code):
        return None
    return _("This code is not right. Codes change every 30 seconds: enter the one shown now.")


@requires("account", "own")
def two_factor(request: HttpRequest) -> HttpResponse:
    """Turn two-step sign-in on (QR code, then a first code) or off (a current code)."""
    device = twofactor.confirmed_device(request.user)
    if device is None:
        return _set_up_two_factor(request)
    if not request.user.is_verified():  # type: ignore[union-attr]
        # Only a session that gave a code may change the second factor.
        return redirect_to_login(request.path, reverse("accounts:two_factor_verify"))
    form = CodeForm(request.POST or None)
    required = twofactor.must_enrol(request.user)
    if request.method == "POST" and required:
        messages.error(request, _("Administrators must keep two-step sign-in on."))
    elif request.method == "POST" and form.is_valid():
        refused = _code_refused(device, form.cleaned_data["code"])
        if refused is None:
            TOTPDevice.objects.filter(user=request.user).delete()
            twofactor.log_code(request, ok=True, what="second factor turned off")
            messages.success(request, _("Two-step sign-in is off."))
            return redirect("accounts:two_factor")
        form.add_error("code", refused)
    return render(
        request,
        "accounts/two_factor.html",
        {"device": device, "form": form, "required": required},
    )


def _set_up_two_factor(request: HttpRequest) -> HttpResponse:
    pending = twofactor.pending_device(request.user)
    required = twofactor.must_enrol(request.user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        refused = _code_refused(pending, form.cleaned_data["code"])
        if refused is None:
            pending.confirmed = True
            pending.save(update_fields=["confirmed"])
            otp_login(request, pending)
            twofactor.log_code(request, ok=True, what="second factor turned on")
            messages.success(request, _("Two-step sign-in is on."))
            return redirect(_next(request) if "next" in request.GET else "accounts:two_factor")
        form.add_error("code", refused)
    return render(
        request,
        "accounts/two_factor.html",
        {
            "form": form,
            "required": required,
            "qr": twofactor.qr_svg(pending),
            "secret": twofactor.secret_text(pending),
            # An administrator held here until it is set up sees no menus that lead nowhere.
            "two_factor_pending": required,
        },
    )


@requires("account", "own")
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: the code from the authenticator app."""
    device = twofactor.confirmed_device(request.user)
    if device is None or request.user.is_verified():  # type: ignore[union-attr]
        return redirect(_next(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        refused = _code_refused(device, form.cleaned_data["code"])
        if refused is None:
            otp_login(request, device)
            twofactor.log_code(request, ok=True, what="second factor passed")
            return redirect(_next(request))
        twofactor.log_code(request, ok=False, what="second factor failed")
        form.add_error("code", refused)
    return render(
        request,
        "accounts/two_factor_verify.html",
        {"form": form, "next": _next(request), "two_factor_pending": True},
    )


@requires("staff", "manage")
def permissions(request: HttpRequest) -> HttpResponse:
    """The permission table as the pages, the API and the admin read it: who may do what."""
    principals = list(PRINCIPAL_NAMES)
    rows = [
        {
            "object": OBJECTS[obj],
            "action": ACTIONS[action],
            "cells": [principal in roles for principal in principals],
        }
        for (obj, action), roles in TABLE.items()
    ]
    return render(
        request,
        "accounts/permissions.html",
        {"principals": [PRINCIPAL_NAMES[p] for p in principals], "rows": rows},
    )
