"""The bell in the top bar, drawn with the page so its count shows on first paint."""

from __future__ import annotations

from typing import Any

from django import template

from huifang.accounts.models import Notification

register = template.Library()


@register.inclusion_tag("accounts/_notification_bell.html", takes_context=True)
def notification_bell(context: template.Context) -> dict[str, Any]:
    user = context["user"]
    unread = Notification.objects.filter(recipient=user).unread().count()
    return {"unread_count": unread}
