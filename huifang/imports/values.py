"""Values as people type them into a spreadsheet, made into what Huifang stores: phones in
E.164, dates in the common Chinese forms and as Excel stores them, amounts with ¥ and
thousands separators, tiers, stages and genders by their Chinese and English names. Each
parser returns the stored value or raises ``ValueRefused`` with the reason in the user's
language."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from huifang.customers.models import LifecycleStage, Tier
from huifang.customers.phones import normalize_phone


class ValueRefused(ValueError):
    """This value cannot be stored in this field; the message says why."""


def text(value: Any) -> str:
    """A cell as text: a whole number Excel stored as 13800138000.0 reads "13800138000"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def bounded(limit: int) -> Any:
    def parse(value: Any) -> str:
        found = text(value)
        if len(found) > limit:
            raise ValueRefused(
                _("At most %(limit)s characters (this has %(size)s).")
                % {"limit": limit, "size": len(found)}
            )
        return found

    return parse


def phone(value: Any) -> str:
    found = re.sub(r"[\s\-()（）]", "", text(value))
    try:
        return normalize_phone(found)
    except ValidationError as exc:
        raise ValueRefused(exc.messages[0]) from None


# An address this plain is one Django's validator accepts (a test holds the two together);
# it is told at a tenth of the cost, which counts over a million rows. Anything else is
# judged by the validator.
PLAIN_EMAIL = re.compile(
    r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)


def email(value: Any) -> str:
    found = text(value).lower()
    if len(found) <= 254 and PLAIN_EMAIL.fullmatch(found):
        return found
    try:
        validate_email(found)
    except ValidationError:
        raise ValueRefused(_("“%(value)s” is not an e-mail address.") % {"value": found}) from None
    return found


# Excel counts days from 1899-12-30 (its 1900 leap-year bug included); a serial date is a
# number of days, a time the fraction of one. 2958465 is 9999-12-31.
_EXCEL_EPOCH = datetime(1899, 12, 30)
_SERIAL = (1, 2_958_465)
_DAY = re.compile(
    r"^(?P<y>\d{4})\s*(?:[-/.]|年)\s*(?P<m>\d{1,2})\s*(?:[-/.]|月)\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?$"
)
_COMPACT = re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$")


def moment(value: Any) -> datetime:
    """A date and maybe a time: ``2026/9/8``, ``2026-09-08 14:30``, ``2026年9月8日``,
    ``2026.9.8``, ``20260908``, an Excel date cell or an Excel serial number (46273)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if _SERIAL[0] <= value <= _SERIAL[1]:
            return _EXCEL_EPOCH + timedelta(days=float(value))
        raise ValueRefused(_("%(value)s is not a date.") % {"value": text(value)})
    found = text(value)
    if found.isdigit() and len(found) <= 7 and _SERIAL[0] <= int(found) <= _SERIAL[1]:
        return _EXCEL_EPOCH + timedelta(days=int(found))
    match = _DAY.match(found) or _COMPACT.match(found)
    if match is None:
        raise ValueRefused(
            _("“%(value)s” is not a date; write it as 2026-09-08, 2026/9/8 or 2026年9月8日.")
            % {"value": found}
        )
    parts = match.groupdict()
    try:
        return datetime(
            int(parts["y"]),
            int(parts["m"]),
            int(parts["d"]),
            int(parts.get("H") or 0),
            int(parts.get("M") or 0),
            int(parts.get("S") or 0),
        )
    except ValueError:
        raise ValueRefused(
            _("“%(value)s” is not a day of the calendar.") % {"value": found}
        ) from None


def looks_like_a_day(value: str) -> bool:
    return bool(_DAY.match(value) or _COMPACT.match(value))


def day(value: Any) -> date:
    return moment(value).date()


_AMOUNT = re.compile(r"^[-+]?\d+(?:\.\d+)?$")


def amount(value: Any) -> Decimal:
    """``¥1,299.00``, ``￥1299``, ``1,299元``, ``RMB 1299``, ``1299.5``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value)).quantize(Decimal("0.01"))
    found = text(value)
    bare = re.sub(r"(?i)^(rmb|cny)|[¥￥,，\s]|元$", "", found)
    if not _AMOUNT.match(bare):
        raise ValueRefused(_("“%(value)s” is not an amount of money.") % {"value": found})
    try:
        return Decimal(bare).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueRefused(_("“%(value)s” is not an amount of money.") % {"value": found}) from None


def _choice(names: Mapping[str, str], what: Any, shown: Any) -> Any:
    """``names`` (every way people write a value) to the stored value; a refusal names the
    values as Huifang shows them (``shown()``), not every synonym."""
    folded = {_fold(k): v for k, v in names.items()}

    def parse(value: Any) -> str:
        found = text(value)
        chosen = folded.get(_fold(found))
        if chosen is None:
            raise ValueRefused(
                _("“%(value)s” is not a %(what)s Huifang knows; use one of: %(names)s.")
                % {"value": found, "what": what(), "names": "、".join(shown())}
            )
        return chosen

    return parse


def _fold(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


TIERS = {
    "VIP": Tier.VIP,
    "贵宾": Tier.VIP,
    "金卡": Tier.VIP,
    "钻石": Tier.VIP,
    "钻石会员": Tier.VIP,
    "白金": Tier.VIP,
    "普通": Tier.REGULAR,
    "普通会员": Tier.REGULAR,
    "会员": Tier.REGULAR,
    "银卡": Tier.REGULAR,
    "regular": Tier.REGULAR,
    "潜在": Tier.POTENTIAL,
    "意向": Tier.POTENTIAL,
    "潜在客户": Tier.POTENTIAL,
    "potential": Tier.POTENTIAL,
    "沉睡": Tier.DORMANT,
    "休眠": Tier.DORMANT,
    "流失": Tier.DORMANT,
    "dormant": Tier.DORMANT,
}
STAGES = {
    "咨询": LifecycleStage.INQUIRY,
    "咨询中": LifecycleStage.INQUIRY,
    "意向": LifecycleStage.INQUIRY,
    "inquiry": LifecycleStage.INQUIRY,
    "已购": LifecycleStage.POST_PURCHASE,
    "已购买": LifecycleStage.POST_PURCHASE,
    "购后": LifecycleStage.POST_PURCHASE,
    "postpurchase": LifecycleStage.POST_PURCHASE,
    "服务中": LifecycleStage.IN_SERVICE,
    "在服务": LifecycleStage.IN_SERVICE,
    "inservice": LifecycleStage.IN_SERVICE,
    "沉睡": LifecycleStage.DORMANT,
    "休眠": LifecycleStage.DORMANT,
    "dormant": LifecycleStage.DORMANT,
}
GENDERS = {
    "男": "m",
    "男性": "m",
    "先生": "m",
    "m": "m",
    "male": "m",
    "女": "f",
    "女性": "f",
    "女士": "f",
    "f": "f",
    "female": "f",
}

tier = _choice(TIERS, lambda: _("tier"), lambda: [str(label) for label in Tier.labels])
stage = _choice(
    STAGES, lambda: _("lifecycle stage"), lambda: [str(label) for label in LifecycleStage.labels]
)
gender = _choice(GENDERS, lambda: _("gender"), lambda: [_("Male"), _("Female")])


def tags(value: Any) -> list[str]:
    """Tags separated by commas (either width), 、, ;, | or line breaks."""
    return [t for t in (p.strip() for p in re.split(r"[,，、;；|\n]", text(value))) if t]


# An event's amount as the customer's figures add it up (``Event.amount``'s limits).
_MOST = Decimal("999999999999.99")


def paid(value: Any) -> Decimal:
    """An amount paid: ``amount`` that is not negative (a refund is not an order)."""
    found = amount(value)
    if found < 0:
        raise ValueRefused(
            _("“%(value)s” is negative; import refunds as their own event type.")
            % {"value": text(value)}
        )
    if found > _MOST:
        raise ValueRefused(_("“%(value)s” is too large an amount.") % {"value": text(value)})
    return found


_COUNT = re.compile(r"^(\d{1,9})(?:\.0+)?\s*(?:件|个|份|次|台|套|pcs)?$", re.IGNORECASE)


def count(value: Any) -> int:
    """A whole number of things: ``3``, ``3件``, ``3.0``."""
    match = _COUNT.match(text(value))
    if match is None:
        raise ValueRefused(_("“%(value)s” is not a whole number.") % {"value": text(value)})
    return int(match.group(1))
