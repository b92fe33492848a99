"""Telling a member of staff about a task, on the channels they chose.

``StaffProfile.notify_channels`` lists them: ``in_app`` (the bell, always available),
``wecom`` / ``dingtalk`` / ``feishu`` (the enabled group robot of that kind, mentioning the
person by the id in ``contact_ids`` — ``wecom_userid``, ``dingtalk_userid``, ``feishu_open_id`` —
or by their mobile), and ``email`` (the first enabled e-mail provider, to the user's address).
Robot and e-mail notifications are queued as staff messages, which the dispatcher sends within
each provider's rate limit. A channel that is not set up falls back to the bell, so nothing is
lost silently.
"""

from __future__ import annotations

import logging
from typing import Any

from huifang.accounts.channels import CONTACT_IDS, IN_APP
from huifang.accounts.services import notify
from huifang.integrations.models import Provider
from huifang.messaging.services import send_to_staff

logger = logging.getLogger(__name__)

# channel → (provider kind, contact id key)
ROBOTS = {
    channel: (kind, CONTACT_IDS[channel][0])
    for channel, kind in (("wecom", "wecom_robot"), ("dingtalk", "dingtalk"), ("feishu", "feishu"))
}


def deliver(user: Any, *, title: str, body: str, url: str) -> list[str]:
    """Returns the channels used."""
    profile = getattr(user, "staff_profile", None)
    chosen = list(profile.notify_channels) if profile is not None else []
    used: list[str] = []
    for channel in chosen or [IN_APP]:
        if channel == IN_APP:
            continue
        if _robot_or_email(user, profile, channel, title=title, body=body, url=url):
            used.append(channel)
    if IN_APP in chosen or not used:
        notify(user=user, title=title, body=body, url=url)
        used.insert(0, IN_APP)
    return used


def _robot_or_email(user: Any, profile: Any, channel: str, **text: str) -> bool:
    body = f"{text['body']}\n{text['url']}"
    if channel == "email":
        if not user.email:
            return False
        provider = _provider("email")
        if provider is None:
            return False
        send_to_staff(provider, subject=text["title"], body=body, to=user.email)
        return True
    if channel not in ROBOTS:
        logger.warning("unknown staff channel %r for %s", channel, user)
        return False
    kind, id_key = ROBOTS[channel]
    provider = _provider(kind)
    if provider is None:
        return False
    mention = str((profile.contact_ids or {}).get(id_key) or "")
    if not mention and channel != "feishu":  # Feishu mentions by open id only
        mention = profile.mobile or ""
    send_to_staff(provider, subject=text["title"], body=body, to=mention)
    return True


def _provider(kind: str) -> Provider | None:
    return Provider.objects.filter(kind=kind, enabled=True).order_by("priority", "id").first()
