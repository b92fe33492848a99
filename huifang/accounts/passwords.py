"""Passwords Huifang makes itself: they pass the same policy as the ones people choose."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.password_validation import (
    MinimumLengthValidator as DjangoMinimumLengthValidator,
)
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils.translation import ngettext


def generate_password(user: Any = None) -> str:
    """A random password that passes ``AUTH_PASSWORD_VALIDATORS`` for ``user``.

    16 URL-safe characters (96 random bits); drawn again in the rare case a validator refuses
    one (all digits, or too close to the username), so a stricter policy never breaks
    ``huifang run``.
    """
    while True:
        password = secrets.token_urlsafe(12)
        try:
            validate_password(password, user)
        except ValidationError:
            continue
        return password


class MinimumLengthValidator(DjangoMinimumLengthValidator):
    """Django's, with its refusal in our catalogs: Django 5.2 reworded that message and its
    Chinese catalog has no translation of the new wording, so a short password was refused in
    English on a Chinese page."""

    def get_error_message(self) -> str:
        return ngettext(
            "This password is too short. It must contain at least %(min_length)d character.",
            "This password is too short. It must contain at least %(min_length)d characters.",
            self.min_length,
        ) % {"min_length": self.min_length}
