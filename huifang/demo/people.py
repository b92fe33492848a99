"""Making one chunk of demo customers with their events, consents and tags.

Runs in a child process, so it touches no database: it only builds rows. Times are whole
seconds since the epoch (UTC) until the last moment, when they become text through lookup
tables; properties are JSON written with f-strings from our own fixed vocabulary. Both matter:
a million events go through here.
"""

from __future__ import annotations

import json
import random
from bisect import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from itertools import accumulate
from typing import Any, TypeVar

from huifang.customers.event_types import event_types

from . import data
from .writer import Flat

DAY = 86_400
HISTORY_DAYS = 548  # 18 months
LOCAL = 8 * 3600  # demo customers live in China (UTC+8)

_HOUR_CUM = list(
    accumulate(
        [1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1.2, 2, 3, 4, 4.5, 4.5, 4, 4, 4, 4, 4.5, 5, 6, 7, 7, 5, 3]
    )
)
T = TypeVar("T")
Weighted = tuple[Sequence[T], list[float]]


@lru_cache(maxsize=64)
def _weighted_cached(values: tuple[Any, ...], weights: tuple[float, ...]) -> Weighted[Any]:
    return values, list(accumulate(weights))


def _weighted(values: Sequence[T], weights: Sequence[float]) -> Weighted[T]:
    return _weighted_cached(tuple(values), tuple(weights))


ORDERS = _weighted((0, 1, 2, 3, 4, 5, 6, 8, 12), (10, 30, 20, 13, 9, 6, 5, 4, 3))
CSAT = _weighted((1, 2, 3, 4, 5), (3, 4, 12, 36, 45))
CLINIC_CSAT = _weighted((1, 2, 3, 4, 5), (2, 3, 10, 35, 50))
NPS = _weighted(tuple(range(11)), (1, 1, 1, 2, 2, 4, 6, 10, 20, 25, 28))
PLANS = _weighted(data.SAAS_PLANS, (50, 35, 15))
TICKETS = _weighted((0, 1, 2, 3), (50, 30, 15, 5))
VISITS = _weighted((0, 1, 2, 3, 4, 6), (8, 35, 25, 15, 10, 7))
VIP_SPEND = {"retail": 6000, "saas": 40000, "clinic": 12000}
DNC_REASONS = ("客户要求", "回复退订", "投诉后要求不再联系")
TAG_COUNT = _weighted((0, 1, 2, 3), (40, 35, 18, 7))

_HMS = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY)]

CUSTOMER_COLUMNS = [
    "id",
    "created_at",
    "updated_at",
    "external_id",
    "name",
    "phone",
    "email",
    "wecom_external_userid",
    "gender",
    "birthday",
    "company",
    "province",
    "city",
    "source",
    "owner_id",
    "business_line",
    "tier",
    "lifecycle_stage",
    "time_zone",
    "preferred_channel",
    "language",
    "do_not_contact",
    "do_not_contact_at",
    "do_not_contact_reason",
    "attributes",
    "first_purchase_at",
    "last_purchase_at",
    "order_count",
    "total_spend",
    "spend_12m",
    "last_contact_at",
    "last_reply_at",
    "last_satisfaction",
    "csat_12m",
    "last_nps",
    "nps_12m",
    "complaint_count",
]
EVENT_COLUMNS = [
    "customer_id",
    "type",
    "occurred_at",
    "properties",
    "amount",
    "score",
    "nps",
    "received_at",
    "source",
]
CONSENT_COLUMNS = [
    "customer_id",
    "channel",
    "status",
    "recorded_at",
    "method",
    "text_version",
    "evidence",
]


@dataclass
class Pools:
    surnames: list[str]
    given: list[str]
    company_words: list[str]


@dataclass
class ChunkSpec:
    seed: int
    number: int  # the first customer's sequence number in this load
    count: int
    first_id: int
    industries: tuple[str, ...]
    now: int  # epoch seconds, UTC
    owners: dict[str, list[int]]
    tag_ids: list[int]
    postgres: bool
    pools: Pools


@dataclass
class Chunk:
    last_number: int
    customers: Any
    events: Any
    consents: Any
    tags: Any
    event_count: int
    customer_columns: list[str] = field(default_factory=lambda: CUSTOMER_COLUMNS)
    event_columns: list[str] = field(default_factory=lambda: EVENT_COLUMNS)
    consent_columns: list[str] = field(default_factory=lambda: CONSENT_COLUMNS)


def _day_cum(first_local_day: date) -> list[float]:
    """Shopping seasons: 618 and 双11 peak, 双12 a little, Spring Festival quiet."""
    weights = []
    for offset in range(HISTORY_DAYS):
        day = first_local_day + timedelta(days=offset)
        weight = 1.0
        if day.month == 6 and 1 <= day.day <= 18:
            weight += 2.5 + (3.0 if day.day >= 16 else 0.0)
        if (day.month == 10 and day.day >= 25) or (day.month == 11 and day.day <= 11):
            weight += 3.0 + (6.0 if day.month == 11 and 9 <= day.day <= 11 else 0.0)
        if day.month == 12 and 10 <= day.day <= 12:
            weight += 1.5
        if (day.month == 1 and day.day >= 20) or (day.month == 2 and day.day <= 15):
            weight *= 0.55
        if day.weekday() >= 5:
            weight *= 1.2
        weights.append(weight)
    return list(accumulate(weights))


class _Maker:
    def __init__(self, spec: ChunkSpec) -> None:
        self.spec = spec
        self.rng = random.Random(f"{spec.seed}:{spec.number}")
        self.random = self.rng.random
        self.zone = "+00" if spec.postgres else ""
        self.now = spec.now
        first_local_midnight = (spec.now + LOCAL) // DAY * DAY - HISTORY_DAYS * DAY
        self.origin = first_local_midnight - LOCAL  # epoch of local midnight, day 0
        self.day_cum = _day_cum(datetime.fromtimestamp(first_local_midnight, UTC).date())
        self.day_total = self.day_cum[-1]
        self.first_day = (self.origin // DAY) - 1
        self.day_text = [
            datetime.fromtimestamp((self.first_day + i) * DAY, UTC).strftime("%Y-%m-%d")
            for i in range(HISTORY_DAYS + 800)
        ]
        self.region_cum = list(accumulate(w for _p, _c, w in data.REGIONS))
        self.events: list[tuple[Any, ...]] = []
        self.stamp = self.text(spec.now)
        self.flags = {
            flag: {entry.key for entry in event_types if getattr(entry, flag)}
            for flag in ("is_purchase", "is_contact", "is_reply", "is_complaint")
        }

    def text(self, moment: int) -> str:
        """A UTC time as the database reads it (PostgreSQL is told the zone explicitly)."""
        return f"{self.day_text[moment // DAY - self.first_day]} {_HMS[moment % DAY]}{self.zone}"

    def moment(self, day: int | None = None) -> int:
        if day is None:
            day = bisect(self.day_cum, self.random() * self.day_total)
        hour = bisect(_HOUR_CUM, self.random() * _HOUR_CUM[-1])
        return self.origin + day * DAY + hour * 3600 + int(self.random() * 3600)

    # random.choice / choices / randint are slow Python code; a million events call them a lot.
    def one(self, seq: Sequence[T]) -> T:
        return seq[int(self.random() * len(seq))]

    def below(self, limit: int) -> int:
        return int(self.random() * limit)

    def between(self, low: int, high: int) -> int:
        return low + self.below(high - low + 1)

    def birthday(self) -> str:
        return f"{self.between(1960, 2004)}-{self.between(1, 12):02d}-{self.between(1, 28):02d}"

    def weighted(self, table: Weighted[T]) -> T:
        values, cum = table
        return values[bisect(cum, self.random() * cum[-1])]

    def pick(self, pairs: tuple[tuple[str, int], ...]) -> str:
        return self.weighted(_weighted([p for p, _w in pairs], [w for _p, w in pairs]))

    def add(
        self,
        customer_id: int,
        kind: str,
        at: int,
        props: str,
        amount: int | None = None,
        score: int | None = None,
        nps: int | None = None,
    ) -> None:
        if at <= self.now:
            self.events.append((customer_id, kind, at, props, amount, score, nps))

    # -- industries -------------------------------------------------------------------------

    def retail(self, cid: int, row: dict[str, Any]) -> None:
        add = self.add
        source = row["source"] = self.pick(data.RETAIL_SOURCES)
        orders = self.weighted(ORDERS)
        if orders == 0:
            for _view in range(self.between(1, 3)):
                add(cid, "page_view", self.moment(), f'{{"url": "/item/{self.below(9999)}"}}')
        for _order in range(orders):
            product, category, low, high = self.one(data.RETAIL_PRODUCTS)
            at = self.moment()
            order_id = f"SO{at % 10**8:08d}{self.below(1000):03d}"
            amount = low + 10 * self.between(0, (high - low) // 10)
            if self.random() < 0.6:
                add(
                    cid,
                    "page_view",
                    at - self.between(300, 36000),
                    f'{{"url": "/item/{category}/{self.below(9999)}"}}',
                )
            add(
                cid,
                "purchase",
                at,
                f'{{"order_id": "{order_id}", "amount": {amount}, "product": "{product}", '
                f'"category": "{category}", "channel": "{source}", "quantity": 1}}',
                amount,
            )
            delivered = at + self.between(1, 4) * DAY + self.between(0, 8) * 3600
            add(cid, "order_delivered", delivered, f'{{"order_id": "{order_id}"}}')
            roll = self.random()
            if roll < 0.03:
                add(
                    cid,
                    "complaint",
                    delivered + DAY,
                    f'{{"order_id": "{order_id}", "reason": "{self.one(data.COMPLAINT_REASONS)}"}}',
                )
            elif roll < 0.11:
                add(
                    cid,
                    "ticket_closed",
                    delivered + self.between(2, 9) * DAY,
                    f'{{"ticket_id": "T{self.below(10**7)}", '
                    f'"topic": "{self.one(data.TICKET_TOPICS)}"}}',
                )
            if self.random() < 0.18:
                score = self.weighted(CSAT)
                add(
                    cid,
                    "survey_answered",
                    delivered + self.between(3, 8) * DAY,
                    f'{{"survey": "购后满意度", "score": {score}, "order_id": "{order_id}"}}',
                    score=score,
                )
            if self.random() < 0.1:
                add(
                    cid,
                    "message_replied",
                    delivered + 3 * DAY + 7200,
                    f'{{"channel": "sms", "text": "{self.one(data.REPLIES)}"}}',
                )

    def saas(self, cid: int, row: dict[str, Any]) -> None:
        add = self.add
        row["source"] = self.pick(data.SAAS_SOURCES)
        row["company"] = self.one(self.spec.pools.company_words) + self.one(data.COMPANY_SUFFIXES)
        plan, price = self.weighted(PLANS)
        seats = self.one((5, 10, 20, 50, 100))
        for _view in range(self.between(3, 12)):
            add(cid, "page_view", self.moment(), f'{{"url": "{self.one(data.SAAS_PAGES)}"}}')
        if self.random() < 0.4:
            add(cid, "download", self.moment(), f'{{"file": "{self.one(data.SAAS_DOWNLOADS)}"}}')
        if self.random() < 0.2:
            row["attributes"] = '{"plan": "试用"}'
            return  # still a lead
        signed = self.moment(self.below(HISTORY_DAYS - 30))
        contract = f"HT{signed % 10**7:07d}"
        ends = signed + 365 * DAY
        amount = price * max(1, seats // 10)
        add(
            cid,
            "contract_signed",
            signed,
            f'{{"contract_id": "{contract}", "plan": "{plan}", "seats": {seats}}}',
        )
        add(
            cid,
            "contract_ends",
            signed,
            f'{{"contract_id": "{contract}", "ends_on": "{self.text(ends + LOCAL)[:10]}"}}',
        )
        add(
            cid,
            "purchase",
            signed + 7200,
            f'{{"order_id": "{contract}", "amount": {amount}, "product": "{plan}", '
            f'"category": "订阅"}}',
            amount,
        )
        if ends <= self.now and self.random() < 0.7:
            add(
                cid,
                "purchase",
                ends,
                f'{{"order_id": "{contract}-R", "amount": {amount}, '
                f'"product": "{plan}", "category": "续费"}}',
                amount,
            )
            ends += 365 * DAY
        row["attributes"] = json.dumps(
            {"plan": plan, "seats": seats, "contract_ends_on": self.text(ends + LOCAL)[:10]},
            ensure_ascii=False,
        )
        row["lifecycle_stage"] = "in_service"
        for _ticket in range(self.weighted(TICKETS)):
            add(
                cid,
                "ticket_closed",
                self.moment(),
                f'{{"ticket_id": "T{self.below(10**7)}", '
                f'"topic": "{self.one(data.TICKET_TOPICS)}"}}',
            )
        if self.random() < 0.25:
            add(cid, "event_attended", self.moment(), '{"event": "客户成功线上沙龙"}')
        if self.random() < 0.35:
            nps = self.weighted(NPS)
            answered = f'{{"survey": "NPS", "nps": {nps}}}'
            add(cid, "survey_answered", self.moment(), answered, nps=nps)

    def clinic(self, cid: int, row: dict[str, Any]) -> None:
        add = self.add
        row["source"] = self.pick(data.CLINIC_SOURCES)
        visits = self.weighted(VISITS)
        if visits == 0:
            add(cid, "page_view", self.moment(), '{"url": "/booking"}')
        surnames = self.spec.pools.surnames
        for _visit in range(visits):
            treatment, low, high = self.one(data.CLINIC_TREATMENTS)
            at = self.moment()
            amount = low + 10 * self.between(0, (high - low) // 10)
            add(cid, "visit", at, f'{{"clinic": "{row["city"]}门诊部"}}')
            add(
                cid,
                "service_completed",
                at + 3600,
                f'{{"treatment": "{treatment}", "doctor": "{self.one(surnames)}医生"}}',
            )
            add(
                cid,
                "purchase",
                at + 4200,
                f'{{"order_id": "CL{at % 10**8:08d}", "amount": {amount}, '
                f'"product": "{treatment}", "category": "诊疗"}}',
                amount,
            )
            if self.random() < 0.3:
                score = self.weighted(CLINIC_CSAT)
                add(
                    cid,
                    "survey_answered",
                    at + 3 * DAY,
                    f'{{"survey": "诊后回访", "score": {score}, "treatment": "{treatment}"}}',
                    score=score,
                )
            if self.random() < 0.02:
                add(
                    cid,
                    "complaint",
                    at + 2 * DAY,
                    f'{{"reason": "{self.one(data.COMPLAINT_REASONS)}"}}',
                )
            if self.random() < 0.12:
                add(
                    cid,
                    "message_replied",
                    at + 3 * DAY + 3600,
                    f'{{"channel": "wecom", "text": "{self.one(data.REPLIES)}"}}',
                )
        if visits:
            row["lifecycle_stage"] = "in_service"

    # -- customers ----------------------------------------------------------------------------

    def customer(self, number: int, cid: int) -> dict[str, Any]:
        rng, spec = self.rng, self.spec
        industry = spec.industries[number % len(spec.industries)]
        province, cities, _w = data.REGIONS[
            bisect(self.region_cum, self.random() * self.region_cum[-1])
        ]
        overseas = self.random() < 0.01
        row: dict[str, Any] = {
            "id": cid,
            "external_id": f"DEMO{spec.seed}-{number:07d}",
            "name": self.one(spec.pools.surnames) + self.one(spec.pools.given),
            "phone": f"+86{self.one(data.MOBILE_PREFIXES)}{self.below(10**8):08d}",
            "email": f"user{spec.seed}x{number}@example.com" if self.random() < 0.45 else "",
            "wecom_external_userid": f"wm{rng.getrandbits(48):012x}"
            if self.random() < 0.35
            else "",
            "gender": "f" if self.random() < 0.55 else "m",
            "birthday": self.birthday() if self.random() < 0.6 else None,
            "province": province,
            "city": self.one(cities),
            "business_line": data.BUSINESS_LINES[industry],
            "time_zone": self.one(("America/New_York", "Europe/Berlin", "Asia/Singapore"))
            if overseas
            else "Asia/Shanghai",
            "language": "en" if overseas and self.random() < 0.5 else "zh-hans",
            "preferred_channel": self.one(("sms", "sms", "wecom", "email", "phone", "")),
            "lifecycle_stage": "inquiry",
            "attributes": "{}",
            "company": "",
            "do_not_contact": False,
            "do_not_contact_at": None,
            "do_not_contact_reason": "",
        }
        team = {"retail": "service", "saas": "sales", "clinic": "care"}[industry]
        owners = spec.owners.get(team)
        row["owner_id"] = self.one(owners) if owners and self.random() < 0.6 else None
        first_event = len(self.events)
        getattr(self, industry)(cid, row)
        self.figures(row, industry, self.events[first_event:])
        if self.random() < 0.03:
            row.update(
                do_not_contact=True,
                do_not_contact_at=self.text(self.now - self.between(1, 300) * DAY),
                do_not_contact_reason=self.one(DNC_REASONS),
            )
        return row

    def figures(self, row: dict[str, Any], industry: str, events: list[tuple[Any, ...]]) -> None:
        """Derived figures, tier and stage, as ``customers.derived`` would compute them.

        The demo knows every event it just made, so it writes finished customers instead of
        rewriting a million rows afterwards; a test checks that ``derived.refresh`` agrees.
        """
        flags = self.flags
        year_ago = self.now - 365 * DAY
        purchases = [
            (at, amount) for _c, kind, at, _p, amount, *_s in events if kind in flags["is_purchase"]
        ]
        contacts = [at for _c, kind, at, *_rest in events if kind in flags["is_contact"]]
        replies = [at for _c, kind, at, *_rest in events if kind in flags["is_reply"]]
        # CSAT (``score``) and NPS kept apart, each its latest and its average over the year.
        csat = [(e[2], index, e[5]) for index, e in enumerate(events) if e[5] is not None]
        nps = [(e[2], index, e[6]) for index, e in enumerate(events) if e[6] is not None]
        spend_12m = sum(amount for at, amount in purchases if at > year_ago)
        last_purchase = max((at for at, _a in purchases), default=None)
        row.update(
            first_purchase_at=self.text(min(at for at, _a in purchases)) if purchases else None,
            last_purchase_at=self.text(last_purchase) if last_purchase else None,
            order_count=len(purchases),
            total_spend=sum(amount for _at, amount in purchases),
            spend_12m=spend_12m,
            last_contact_at=self.text(max(contacts)) if contacts else None,
            last_reply_at=self.text(max(replies)) if replies else None,
            last_satisfaction=max(csat)[2] if csat else None,
            csat_12m=_average(value for at, _i, value in csat if at > year_ago),
            last_nps=max(nps)[2] if nps else None,
            nps_12m=_average(value for at, _i, value in nps if at > year_ago),
            complaint_count=sum(1 for e in events if e[1] in flags["is_complaint"]),
        )
        # Tiers by the usual SME rule of thumb: VIP above a 12-month spend that about one
        # customer in five reaches; dormant after half a year without buying, except SaaS
        # customers, who pay once a year.
        dormant = (
            last_purchase is not None
            and last_purchase < self.now - 180 * DAY
            and industry != "saas"
        )
        if not purchases:
            row.update(tier="potential", lifecycle_stage="inquiry")
        elif spend_12m >= VIP_SPEND[industry]:
            row["tier"] = "vip"
            if row["lifecycle_stage"] == "inquiry":
                row["lifecycle_stage"] = "post_purchase"
        elif dormant:
            row.update(tier="dormant", lifecycle_stage="dormant")
        else:
            row["tier"] = "regular"
            if row["lifecycle_stage"] == "inquiry":
                row["lifecycle_stage"] = "post_purchase"

    def consents(self, cid: int, row: dict[str, Any]) -> list[tuple[Any, ...]]:
        recorded = self.text(self.origin + self.below(HISTORY_DAYS * DAY))
        rows = []
        roll = self.random()
        if roll < 0.85:
            rows.append((cid, "sms", "granted", recorded, "import", "v2025-01", "会员注册协议勾选"))
        elif roll < 0.88:
            rows.append((cid, "sms", "withdrawn", recorded, "sms_reply", "v2025-01", "短信回复 TD"))
        if row["email"] and self.random() < 0.6:
            rows.append((cid, "email", "granted", recorded, "web_form", "v2025-01", "官网订阅表单"))
        if row["wecom_external_userid"]:
            rows.append(
                (cid, "wecom", "granted", recorded, "verbal", "v2025-01", "添加企业微信时口头同意")
            )
        return rows


def _average(values: Iterable[int]) -> Decimal | None:
    """Rounded to 2 places half away from zero, as ``derived`` has the database round it."""
    taken = list(values)
    if not taken:
        return None
    return (Decimal(sum(taken)) / len(taken)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _copy_text(rows: list[tuple[Any, ...]]) -> str:
    """PostgreSQL COPY text format. Our values hold no tabs, newlines or backslashes."""
    return "".join("\t".join("\\N" if v is None else str(v) for v in row) + "\n" for row in rows)


def make_chunk(spec: ChunkSpec) -> Chunk:
    maker = _Maker(spec)
    stamp = maker.stamp
    customers: list[tuple[Any, ...]] = []
    consents: list[tuple[Any, ...]] = []
    tags: list[tuple[int, int]] = []
    for offset in range(spec.count):
        number, cid = spec.number + offset, spec.first_id + offset
        row = maker.customer(number, cid)
        row["created_at"] = row["updated_at"] = stamp
        customers.append(tuple(row[c] for c in CUSTOMER_COLUMNS))
        consents.extend(maker.consents(cid, row))
        count = maker.weighted(TAG_COUNT)
        tags.extend((cid, tag) for tag in maker.rng.sample(spec.tag_ids, count))
    text = maker.text
    events = [
        (cid, kind, text(at), props, amount, score, nps, stamp, "demo")
        for cid, kind, at, props, amount, score, nps in maker.events
    ]
    if spec.postgres:
        return Chunk(
            spec.number + spec.count,
            _copy_text(customers),
            _copy_text(events),
            _copy_text(consents),
            _copy_text(tags),
            len(events),
        )
    return Chunk(
        spec.number + spec.count,
        Flat.of(customers),
        Flat.of(events),
        Flat.of(consents),
        Flat.of(tags),
        len(events),
    )
