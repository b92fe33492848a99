"""The first administrator's password, kept in ``var/admin-password.txt`` only until changed.

``huifang run`` creates the administrator with a random password, prints it once and writes
it to the file (0600, in the 0700 ``var/``), so whoever installed Huifang can sign in. The
file must not outlive its use: once the password is changed — on the admin's user page,
with ``huifang changepassword`` or anywhere else Django sets a password — the file is deleted
(``ForgetWhenChanged``, which Django calls after every password change), and ``huifang run``
deletes it at start when the password in it no longer signs the administrator in (changed
before this existed, or directly in the database). Until then it stays: deleting it at the
first sign-in would lose the only copy of a password nobody chose.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model

FILE_NAME = "admin-password.txt"


def path() -> Path:
    return Path(settings.VAR_DIR) / FILE_NAME


def keep(username: str, password: str) -> Path:
    """Write the file, readable by this user only; returns where."""
    file = path()
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    file.unlink(missing_ok=True)  # created afresh, so it is 0600 whatever was there
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"username: {username}\npassword: {password}\n")
    return file


def _read() -> tuple[str, str] | None:
    try:
        lines = path().read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    found = dict(line.split(": ", 1) for line in lines if ": " in line)
    return found.get("username", ""), found.get("password", "")


def forget_if_changed() -> bool:
    """Delete the file when its password no longer signs its user in; whether it did."""
    kept = _read()
    if kept is None:
        return False
    username, password = kept
    user = get_user_model().objects.filter(username=username).first()
    if user is not None and user.check_password(password):
        return False
    path().unlink(missing_ok=True)
    return True


class ForgetWhenChanged:
    """Not a rule a password must follow: the password-validator hook Django calls after
    every password change (``password_changed``), used to delete the first administrator's
    password file as soon as that password is changed. Listed in
    ``AUTH_PASSWORD_VALIDATORS``; it never refuses a password."""

    def validate(self, password: str, user: Any = None) -> None:
        return None

    def password_changed(self, password: str, user: Any = None) -> None:
        kept = _read()
        if kept is not None and user is not None and kept[0] == user.get_username():
            path().unlink(missing_ok=True)

    def get_help_text(self) -> str:
        return ""
