from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.security import HttpBearer

from huifang.accounts.models import ApiToken
from huifang.accounts.permissions import TABLE, Permission, can

from .errors import ApiError


def token_from_header(request: HttpRequest) -> ApiToken | None:
    """The active token named in the Authorization header, if any (no errors raised)."""
    header = request.headers.get("Authorization", "")
    scheme, _sep, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    token = ApiToken.find(raw.strip())
    return None if token is None or token.is_revoked else token


class TokenAuth(HttpBearer):
    """A bearer token whose scope the permission table allows ``action`` on ``obj``: each API
    operation names its own (``auth=TokenAuth("customer", "edit")``); a token outside the
    table's row gets 403 before the operation runs."""

    def __init__(self, obj: str = "", action: str = "") -> None:
        super().__init__()
        if obj and (obj, action) not in TABLE:
            raise KeyError(f"({obj!r}, {action!r}) is not in the permission table")
        self.permission = Permission(obj, action, action) if obj else None

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found = ApiToken.find(token.strip())
        if found is None:
            raise ApiError(401, "invalid_token", _("This API token is not valid."))
        if found.is_revoked:
            raise ApiError(401, "token_revoked", _("This API token has been revoked."))
        permission = self.permission
        if permission is None or not can(found, permission.obj, permission.safe):
            raise ApiError(
                403,
                "forbidden",
                _("This token's scope (%(scope)s) does not allow this operation.")
                % {"scope": found.get_scope_display()},
            )
        found.touch()
        return found
