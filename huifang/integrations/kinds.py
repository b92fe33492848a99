"""The kinds of provider an admin can configure, one per folder of ``huifang/integrations``.

Each kind's folder declares ``KIND`` in its ``transport.py``: the channels it serves, its
settings as a pydantic model (``config``; the generic ``Provider`` row stores them as JSON, so
it never grows a column per kind), which of those settings are secrets (stored encrypted, never
shown back), the Django form an admin fills in, and how to build the transport from the
settings. ``IntegrationsConfig.ready()`` registers them all here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from pydantic import BaseModel

from huifang.core.registry import Registry

from .base import Transport

# Who a provider reaches: customers on one of their channels, or staff (robots, in-app).
STAFF = "staff"


@dataclass(frozen=True)
class Kind:
    key: str
    label: Any  # a lazy translation
    serves: tuple[str, ...]  # customer channels (customers.models.Channel values) or STAFF
    config: type[BaseModel]
    build: Callable[[Any], Transport]  # config instance -> transport
    form: type[forms.Form] | None = None
    secrets: tuple[str, ...] = ()
    # Messages a minute one provider of this kind takes; the dispatcher defers the rest.
    rate_per_minute: int | None = None
    description: Any = ""


kinds: Registry[Kind] = Registry("provider kinds")
