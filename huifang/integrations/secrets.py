"""Provider secrets (API keys, passwords, signing secrets) at rest: encrypted, never shown back.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) under a key derived from
``SECRETS_KEY`` — or, when that is not set, from ``SECRET_KEY``. A database dump or backup then
holds no usable credential. Rotating the key makes stored secrets unreadable: the channels page
says so and asks for them again, rather than failing at send time without a word.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class UnreadableSecrets(ValueError):
    """Stored secrets that the current key cannot decrypt (the key changed)."""


def _fernet() -> Fernet:
    material = settings.HUIFANG_SECRETS_KEY or settings.SECRET_KEY
    digest = hashlib.sha256(f"huifang.integrations.secrets:{material}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(values: dict[str, Any]) -> str:
    if not values:
        return ""
    return _fernet().encrypt(json.dumps(values, ensure_ascii=False).encode()).decode()


def unseal(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        data = json.loads(_fernet().decrypt(token.encode()))
    except (InvalidToken, ValueError):
        raise UnreadableSecrets("stored secrets cannot be decrypted with the current key") from None
    return data if isinstance(data, dict) else {}
