"""Pydantic's errors in the user's language: pydantic's own English wording is replaced by ours
for the error kinds people actually hit. Used by the API, the customer and event services and the
rule document alike."""

from __future__ import annotations

from typing import Any

import pydantic
from django.utils.translation import gettext as _


def message_for(error: Any) -> str:
    """A pydantic error (one item of ``errors()``) in the user's language."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    messages = {
        "missing": _("This field is required."),
        "extra_forbidden": _("This field is not known."),
        "string_type": _("Enter text."),
        "string_too_short": _("This field cannot be empty."),
        "string_too_long": _("Enter at most %(max)s characters.")
        % {"max": ctx.get("max_length", "")},
        "too_long": _("Enter at most %(max)s items.") % {"max": ctx.get("max_length", "")},
        "int_parsing": _("Enter a whole number."),
        "int_type": _("Enter a whole number."),
        "bool_parsing": _("Enter true or false."),
        "bool_type": _("Enter true or false."),
        "datetime_parsing": _("Enter a date and time in ISO 8601, e.g. 2026-10-08T09:30:00+08:00."),
        "datetime_from_date_parsing": _(
            "Enter a date and time in ISO 8601, e.g. 2026-10-08T09:30:00+08:00."
        ),
        "date_parsing": _("Enter a date as YYYY-MM-DD."),
        "date_from_datetime_parsing": _("Enter a date as YYYY-MM-DD."),
        "enum": _("Choose one of: %(values)s.") % {"values": ctx.get("expected", "")},
        "literal_error": _("Choose one of: %(values)s.") % {"values": ctx.get("expected", "")},
        "dict_type": _("Enter an object."),
        "list_type": _("Enter a list."),
        "model_type": _("Enter an object."),
        "model_attributes_type": _("Enter an object."),
        "string_pattern_mismatch": _("This value is not allowed here."),
        "less_than_equal": _("Enter a number no larger than %(limit)s.")
        % {"limit": ctx.get("le", "")},
        "greater_than_equal": _("Enter a number no smaller than %(limit)s.")
        % {"limit": ctx.get("ge", "")},
        "finite_number": _("Enter a finite number."),
        "int_from_float": _("Enter a whole number."),
        "date_from_datetime_inexact": _("Enter a date as YYYY-MM-DD."),
        "datetime_type": _("Enter a date and time in ISO 8601, e.g. 2026-10-08T09:30:00+08:00."),
        "date_type": _("Enter a date as YYYY-MM-DD."),
        "too_short": _("Enter at least %(min)s items.") % {"min": ctx.get("min_length", "")},
        "json_invalid": _("This is not valid JSON."),
    }
    return messages.get(kind, error.get("msg", _("This value is not valid.")))


def field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def describe_validation_error(exc: pydantic.ValidationError) -> list[dict[str, str]]:
    """One ``{field, code, message}`` per problem, in the user's language."""
    return [
        {"field": field_path(err["loc"]), "code": err["type"], "message": message_for(err)}
        for err in exc.errors(include_url=False)
    ]
