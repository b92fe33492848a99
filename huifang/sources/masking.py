"""A received payload as the log keeps it: personal details masked, size bounded (DESIGN.md
invariant 9). What the mapping reads as the customer's phone, e-mail and name is masked wherever
it appears; so is every value under a key that names a person or an address, every e-mail
address and every mobile number found in any text."""

from __future__ import annotations

import json
import re
from typing import Any

from huifang.customers.pii import mask_email, mask_text

PAYLOAD_CHARS = 8000
# Keys whose values name or reach a person (有赞 receiver_name / receiver_tel / buyer_phone,
# Shopify first_name / address1 / email …): matched as parts of the key, case-insensitively.
_PERSONAL_KEY = re.compile(
    r"name|phone|mobile|tel|mail|addr|receiver|contact|open_?id|user_?id|nick|wechat|weixin|"
    r"zip|postal|id_?card|passport",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[^\s@\"'<>,;:]+@[^\s@\"'<>,;:]+\.[^\s@\"'<>,;:]+")
# A mainland mobile (11 digits from 13–19) or any +country number, not inside a longer number.
_PHONE = re.compile(r"(?<!\d)(?:\+\d{8,15}|(?:\+?86[\s-]?)?1[3-9]\d{9})(?!\d)")


def _masked_phone(match: re.Match[str]) -> str:
    digits = match.group(0)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_string(text: str, *, personal: bool = False) -> str:
    if personal:
        if "@" in text:
            return mask_email(text)
        if _PHONE.fullmatch(text.strip()):
            return _PHONE.sub(_masked_phone, text.strip())
        return mask_text(text)
    return _PHONE.sub(_masked_phone, _EMAIL.sub(lambda m: mask_email(m.group(0)), text))


def masked(payload: Any, known: set[str] | None = None) -> Any:
    """A copy of ``payload`` with personal details masked; ``known``: texts the mapping read as
    the customer's phone, e-mail or name, masked wherever they appear."""
    known = {value for value in known or set() if value}

    def one(value: Any, personal: bool) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            return mask_string(str(value), personal=True) if personal else value
        if isinstance(value, str):
            if value in known:
                return mask_string(value, personal=True)
            return mask_string(value, personal=personal)
        return value

    # Iterative, as the payload may nest as deep as the JSON limit allows.
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, bool]] = [(payload, root, 0, False)]
    while stack:
        value, parent, key, personal = stack.pop()
        if isinstance(value, dict):
            copy: dict[str, Any] = {}
            parent[key] = copy
            for name, child in value.items():
                stack.append((child, copy, name, personal or bool(_PERSONAL_KEY.search(name))))
        elif isinstance(value, list):
            items: list[Any] = [None] * len(value)
            parent[key] = items
            for index, child in enumerate(value):
                stack.append((child, items, index, personal))
        else:
            parent[key] = one(value, personal)
    return root[0]


def stored(payload: Any, known: set[str] | None = None) -> str:
    """The masked payload as the log stores it: JSON text of at most ``PAYLOAD_CHARS``."""
    text = json.dumps(masked(payload, known), ensure_ascii=False, indent=1)
    return text if len(text) <= PAYLOAD_CHARS else text[: PAYLOAD_CHARS - 1] + "…"
