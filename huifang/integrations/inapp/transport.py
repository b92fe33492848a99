"""In-app notifications: a message to a member of staff lands under the bell in the top bar.

``outgoing.to`` is the user's id, ``subject`` the title, ``body`` the text and
``params["url"]`` an optional path on this site to open. Nothing leaves the process, so there is
nothing transient: a missing or inactive user, or a link off the site, fails permanently.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy
from pydantic import BaseModel

from huifang.accounts.models import Notification
from huifang.accounts.services import notify
from huifang.integrations.base import Outgoing, Receipt, TransportError
from huifang.integrations.kinds import STAFF, Kind

from .forms import InAppForm

TITLE_LENGTH = Notification._meta.get_field("title").max_length or 200


@dataclass
class InAppTransport:
    key: str = "inapp"

    def send(self, outgoing: Outgoing) -> Receipt:
        user = _recipient(outgoing.to)
        try:
            notification = notify(
                user=user,
                title=_title(outgoing),
                body=outgoing.body,
                url=outgoing.params.get("url", ""),
            )
        except ValidationError as exc:
            raise TransportError(
                f"in-app: {'; '.join(exc.messages)}", permanent=True, code="invalid"
            ) from exc
        return Receipt(f"inapp-{notification.pk}")


def _recipient(to: str) -> AbstractBaseUser:
    User = get_user_model()
    user = User.objects.filter(pk=int(to)).first() if to.strip().isdigit() else None
    if user is None:
        raise TransportError(f"in-app: no user {to!r}", permanent=True, code="no_user")
    if not user.is_active:
        raise TransportError(f"in-app: user {to!r} is inactive", permanent=True, code="inactive")
    return user


def _title(outgoing: Outgoing) -> str:
    # Rendered templates may run long or leave the subject empty (robot-style texts); a title
    # cut short beats a message that fails for good.
    text = outgoing.subject.strip() or outgoing.body.strip().split("\n", 1)[0]
    return Truncator(text).chars(TITLE_LENGTH)


class Config(BaseModel):
    """Nothing to configure: the notifications live in Huifang's own database."""


KIND = Kind(
    key="inapp",
    label=gettext_lazy("In-app notification"),
    serves=(STAFF,),
    config=Config,
    build=lambda config: InAppTransport(),
    form=InAppForm,
    description=gettext_lazy(
        "Notifications under the bell in Huifang's top bar; nothing leaves Huifang."
    ),
)
