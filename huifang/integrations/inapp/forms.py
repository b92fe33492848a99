"""The settings form of in-app notifications: there is nothing to configure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from huifang.integrations.forms import SettingsForm

if TYPE_CHECKING:
    from pydantic import BaseModel


class InAppForm(SettingsForm):
    """No fields: each message goes to the member of staff it names (its recipient), under
    the bell in the top bar; nothing leaves Huifang."""

    kind = "inapp"

    @classmethod
    def initial_for(cls, config: BaseModel) -> dict[str, Any]:
        return {}  # no settings to show
