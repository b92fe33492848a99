from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.security import HttpBearer

from huifang.accounts.models import ApiToken

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
    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found = ApiToken.find(token.strip())
        if found is None:
            raise ApiError(401, "invalid_token", _("This API token is not valid."))
        if found.is_revoked:
            raise ApiError(401, "token_revoked", _("This API token has been revoked."))
        found.touch()
        return found
