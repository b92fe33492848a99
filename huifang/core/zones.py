"""Which names are time zones: the IANA database's names, less the ones that are not a place.

``localtime`` (whatever the server's clock says) and ``Factory`` (a zone meaning "not set") are
in the database but mean nothing for a customer or a team, so they are refused like a typo. The
one helper that turns a name into a ``ZoneInfo`` is ``huifang.organisation.zones``; this module
only judges names, for the models, forms, API and imports below it.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

NOT_A_PLACE = frozenset({"localtime", "Factory", "posixrules", "posix/Factory", "right/Factory"})


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - NOT_A_PLACE)


def is_zone_name(name: object) -> bool:
    return isinstance(name, str) and name in zone_names()


def validate_zone_name(name: object) -> None:
    """Model and form validator: an IANA zone name such as Asia/Shanghai, else a clear error."""
    if not is_zone_name(name):
        raise ValidationError(
            _("“%(value)s” is not a time zone; use a name such as Asia/Shanghai."),
            code="time_zone",
            params={"value": name},
        )
