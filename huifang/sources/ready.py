"""The ready mappings: a document and a sample payload for each common shape (docs/sources.md
says where each shape is documented)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

FOLDER = Path(__file__).resolve().parent / "ready"


@dataclass(frozen=True)
class Ready:
    key: str
    label: str | Promise
    description: str | Promise

    @property
    def document(self) -> str:
        return (FOLDER / f"{self.key}.yaml").read_text(encoding="utf-8")

    @property
    def sample_text(self) -> str:
        return (FOLDER / f"{self.key}.json").read_text(encoding="utf-8")

    @property
    def sample(self) -> Any:
        return json.loads(self.sample_text)


READY = {
    ready.key: ready
    for ready in (
        Ready(
            "youzan-trade-paid",
            _("Youzan: trade paid (trade_TradePaid)"),
            _("Youzan Cloud's push message when an order is paid; the order is in msg."),
        ),
        Ready(
            "shopify-orders-paid",
            _("Shopify-style orders/paid webhook"),
            _("An Order object as Shopify and many shop systems post it when an order is paid."),
        ),
    )
}

BLANK = """\
# Where the payload keeps the customer and the event: docs/sources.md
customer:
  match: [external_id, phone, email]
  external_id: $.customer.id
  phone: $.customer.phone
  email: $.customer.email
  name: $.customer.name
event:
  type: purchase
  occurred_at: $.paid_at
  idempotency_key: $.order_no
  properties:
    amount: $.amount
    order_no: $.order_no
"""
