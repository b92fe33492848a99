"""``huifang createsuperuser``: Django's, with the password policy applied with --noinput too.

Django checks ``AUTH_PASSWORD_VALIDATORS`` only when it asks for the password at the keyboard;
with ``--noinput`` it takes ``DJANGO_SUPERUSER_PASSWORD`` as it is, so a deployment script could
create an administrator whose password is ``12345678``. Here that password is checked first,
against the user it is for (its name and e-mail address), and refused with the reasons.
(``huifang`` finds this command rather than Django's because ``huifang.accounts`` comes before
``django.contrib.auth`` in ``INSTALLED_APPS``.)
"""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth.management.commands import createsuperuser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils.translation import gettext as _

PASSWORD_VARIABLE = "DJANGO_SUPERUSER_PASSWORD"  # noqa: S105 - a name, not a password


class Command(createsuperuser.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        if not options["interactive"] and PASSWORD_VARIABLE in os.environ:
            self.check_password(os.environ[PASSWORD_VARIABLE], options)
        super().handle(*args, **options)

    def check_password(self, password: str, options: dict[str, Any]) -> None:
        """``CommandError`` naming every rule ``password`` breaks for the user to be made
        (named as Django's own --noinput path names it: option, else environment)."""
        model: Any = self.UserModel
        fields = {}
        for name in (model.USERNAME_FIELD, *model.REQUIRED_FIELDS):
            value = options.get(name) or os.environ.get(f"DJANGO_SUPERUSER_{name.upper()}")
            field = model._meta.get_field(name)
            if value and not field.many_to_many and not field.is_relation:
                fields[name] = value
        try:
            validate_password(password, model(**fields))
        except ValidationError as refused:
            raise CommandError(
                _("%(variable)s is refused by the password policy: %(reasons)s")
                % {"variable": PASSWORD_VARIABLE, "reasons": " ".join(refused.messages)}
            ) from None
