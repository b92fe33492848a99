from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from huifang.core.pagination import seek

from .decorators import fragment_login_required, role_required
from .forms import TokenForm
from .models import ApiToken, Notification, NotificationQuerySet, is_site_path
from .roles import Role
from .services import mark_all_read

NOTIFICATIONS_PAGE_SIZE = 20
BELL_MENU_SIZE = 5


@role_required(Role.ADMIN)
def tokens(request: HttpRequest) -> HttpResponse:
    secret = None
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _token, secret = ApiToken.issue(
            name=form.cleaned_data["name"], created_by=request.user, request=request
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
@role_required(Role.ADMIN)
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk)
    token.revoke(actor=request.user, request=request)
    messages.success(
        request,
        _("The token “%(name)s” is revoked; requests with it now fail.") % {"name": token.name},
    )
    return redirect("accounts:tokens")


def _mine(request: HttpRequest) -> NotificationQuerySet:
    # By id: an anonymous visitor (id None) would match nothing, should a decorator be missed.
    return Notification.objects.filter(recipient_id=request.user.pk)


@login_required
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
@login_required
def open_notification(request: HttpRequest, pk: int) -> HttpResponse:
    # Someone else's notification is a 404, not a 403: whether it exists is not theirs to know.
    notification = get_object_or_404(_mine(request), pk=pk)
    notification.mark_read()
    # Checked again here: rows written around ``notify`` never passed the validator.
    if notification.url and is_site_path(notification.url):
        return HttpResponseRedirect(notification.url)
    return redirect("accounts:notifications")


@require_POST
@login_required
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
@fragment_login_required
def notification_count(request: HttpRequest) -> HttpResponse:
    """The bell's badge, polled by every open page."""
    unread = _mine(request).unread().count()
    return render(request, "accounts/_notification_count.html", {"unread_count": unread})


@require_GET
@fragment_login_required
def notification_menu(request: HttpRequest) -> HttpResponse:
    """The bell's dropdown, fetched each time it opens so it is never stale."""
    latest = _mine(request)[:BELL_MENU_SIZE]
    return render(request, "accounts/_notification_menu.html", {"latest": latest})
