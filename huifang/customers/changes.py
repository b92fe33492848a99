"""Customers created or changed, told to the apps above that react to it (event
subscriptions): ``happened(kind, customers, now)``, called inside the transaction that wrote
them — by the API's upsert and the customer page's edit. (Withdrawn consent has its own hook,
``consent.withdrawn``.)"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from huifang.core.hooks import Hook

from .models import Customer

CREATED, UPDATED = "created", "updated"

# listener(kind, customers, now)
happened: Hook[Callable[[str, Sequence[Customer], datetime], object]] = Hook("customers changed")
