"""What an import of events would do, a chunk of rows at a time: each row's event (its type,
when it happened, what it carries), the customer it belongs to (by customer number, phone or
e-mail, in the order chosen; added when the file names them and the import may add customers),
the key that makes importing the same file twice add nothing — or why the row is refused.

The file is read as a stream, ``CHUNK`` rows at a time: only the chunk, the keys seen so far
(as 8-byte digests) and the customers to be added are held, never the whole file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

from django.utils import timezone, translation
from django.utils.translation import gettext as _

from huifang.core.limits import Refusal, check_data
from huifang.customers.event_scores import ScoreInvalid, read_scores
from huifang.customers.event_types import EventType, event_types, resolve
from huifang.customers.models import Customer, CustomEventType, Event
from huifang.customers.phones import mask_phone
from huifang.customers.pii import mask_email
from huifang.organisation.zones import organisation_zone

from . import values
from .mapping import (
    EVENT_CUSTOMER_KEYS,
    EVENT_TARGETS,
    HEADER_SEARCH,
    Target,
    event_target_for,
    header_row,
    suggest,
)
from .planning import MappingRefused, Problem
from .reading import Row, column_name, open_rows

CHUNK = 2000
# Keys of a row that are not the event's properties.
WHO = ("external_id", "name", "phone", "email")
NUMBERS = ("order_id", "ticket_id", "contract_id")  # a number that names the event, by kind
NOT_PROPERTIES = (*WHO, "type", "occurred_at", "idempotency_key", "amount")
# An event dated this far ahead is a typing mistake, not something that happened.
FUTURE = timedelta(days=1)

# Event types by the words order, ticket and contract systems use; the built-in keys, their
# labels (Chinese and English) and the custom types' keys and names are known besides.
TYPE_NAMES = {
    "订单": "purchase",
    "购买": "purchase",
    "下单": "purchase",
    "支付": "purchase",
    "已支付": "purchase",
    "付款": "purchase",
    "已付款": "purchase",
    "成交": "purchase",
    "消费": "purchase",
    "order": "purchase",
    "paid": "purchase",
    "签收": "order_delivered",
    "已签收": "order_delivered",
    "送达": "order_delivered",
    "已送达": "order_delivered",
    "delivered": "order_delivered",
    "工单": "ticket_closed",
    "工单关闭": "ticket_closed",
    "已关闭": "ticket_closed",
    "已解决": "ticket_closed",
    "结单": "ticket_closed",
    "ticket": "ticket_closed",
    "投诉": "complaint",
    "客诉": "complaint",
    "签约": "contract_signed",
    "合同": "contract_signed",
    "合同签订": "contract_signed",
    "签订合同": "contract_signed",
    "contract": "contract_signed",
    "合同到期": "contract_ends",
    "到期": "contract_ends",
    "服务": "service_completed",
    "服务完成": "service_completed",
    "维修": "service_completed",
    "维修完成": "service_completed",
    "安装": "service_completed",
    "安装完成": "service_completed",
    "保养": "service_completed",
    "治疗": "service_completed",
    "到店": "visit",
    "到访": "visit",
    "来访": "visit",
    "就诊": "visit",
    "参会": "event_attended",
    "参加活动": "event_attended",
    "下载": "download",
    "浏览": "page_view",
}


@dataclass(frozen=True)
class Options:
    """What the user chose for the file: its columns (0-based index → key), the type of rows
    without one, the order customers are looked for in, whether missing ones are added."""

    mapping: dict[int, str]
    event_type: str = ""
    match_on: tuple[str, ...] = EVENT_CUSTOMER_KEYS
    create_customers: bool = False


@dataclass
class Planned:
    """A row that becomes an event; ``customer`` is ``None`` for a customer to be added (from
    ``who``, by the row ``added_by``, which is this row or an earlier one)."""

    row: int
    type: str
    occurred_at: datetime
    key: str
    who: dict[str, str]
    amount: Decimal | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    customer: int | None = None
    added_by: int | None = None
    repeated: bool = False  # already imported, or earlier in the file: nothing is added

    def event(self, customer_id: int) -> Event:
        return Event(
            customer_id=customer_id,
            type=self.type,
            occurred_at=self.occurred_at,
            properties=self.properties,
            source=Event.Source.IMPORT,
            idempotency_key=self.key,
            amount=self.amount,
        )

    def shown(self) -> dict[str, Any]:
        """The row as the preview shows it (personal details masked)."""
        who = {k: _masked(k, v) for k, v in self.who.items()}
        return {
            "row": self.row,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
            "amount": str(self.amount) if self.amount is not None else None,
            "properties": self.properties,
            "who": who,
            "customer": self.customer,
            "new_customer": self.customer is None,
            "repeated": self.repeated,
        }


@dataclass
class Head:
    """The file's header: where it is, its names, the columns chosen."""

    file_name: str
    header_row: int  # 1-based
    headers: list[str]
    options: Options


def _masked(key: str, value: str) -> str:
    if key == "phone":
        return mask_phone(value)
    if key == "email":
        return mask_email(value)
    return value


def read(
    path: Path | str, *, name: str | None, choose: Callable[[list[str]], Options]
) -> tuple[Head, Iterator[list[Row]]]:
    """The file's header (``choose`` makes the options from its names) and its data rows in
    chunks of ``CHUNK``, empty rows left out; ``FileRefused`` for a file that cannot be read."""
    rows = open_rows(path, name=name)
    first = list(islice(rows, HEADER_SEARCH))
    top = header_row(first, EVENT_TARGETS)
    headers = [values.text(c.value) for c in first[top]] if first else []
    options = choose(headers)
    head = Head(Path(name or str(path)).name, top + 1, headers, options)

    def chunks() -> Iterator[list[Row]]:
        chunk: list[Row] = []
        for row in _chain(first[top + 1 :], rows):
            if not any(values.text(c.value) for c in row):
                continue
            chunk.append(row)
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    return head, chunks()


def _chain(first: list[Row], rest: Iterator[Row]) -> Iterator[Row]:
    yield from first
    yield from rest


def mapping_from(headers: Sequence[str], chosen: Mapping[str, str] | None) -> dict[int, str]:
    """Columns by header name or letter, or the suggestions when nothing is chosen; a value of
    ``""`` leaves a column out."""
    if not chosen:
        return suggest(headers, EVENT_TARGETS)
    found: dict[int, str] = {}
    letters = {column_name(i + 1): i for i in range(len(headers))}
    for name, key in chosen.items():
        index = headers.index(name) if name in headers else letters.get(str(name).upper())
        if index is None:
            raise MappingRefused(_("The file has no column “%(name)s”.") % {"name": name})
        if not key:
            continue
        if event_target_for(key) is None:
            raise MappingRefused(
                _("“%(key)s” is not a field an import of events can fill.") % {"key": key}
            )
        if key in found.values():
            raise MappingRefused(_("Two columns fill “%(key)s”; choose one.") % {"key": key})
        found[index] = key
    return found


def check_options(options: Options) -> None:
    """``MappingRefused`` for options an import cannot run with, before any row is read."""
    chosen = set(options.mapping.values())
    if not chosen & set(EVENT_CUSTOMER_KEYS):
        raise MappingRefused(
            _("Choose the column of the customer number, phone or e-mail that finds the customer.")
        )
    if "occurred_at" not in chosen:
        raise MappingRefused(_("Choose the column that says when each event happened."))
    if options.event_type and type_of(options.event_type) is None:
        raise MappingRefused(
            _("“%(value)s” is not a known event type.") % {"value": options.event_type}
        )
    if not options.event_type and "type" not in chosen:
        raise MappingRefused(
            _("Choose the type of the events, or the column that holds each row's type.")
        )
    if not options.match_on or set(options.match_on) - set(EVENT_CUSTOMER_KEYS):
        raise MappingRefused(_("Find customers by external_id, phone or email."))


def type_of(key: str) -> EventType | None:
    return resolve(key)


class TypeNames:
    """Each way a type is written in a file, to its key: read once per import."""

    def __init__(self) -> None:
        # The words of systems first; an organisation's own types, then the built-in types'
        # keys and names, take precedence over them.
        self.names: dict[str, str] = {_fold(k): v for k, v in TYPE_NAMES.items()}
        for key, name in CustomEventType.objects.values_list("key", "name"):
            self.names[_fold(name)] = key
            self.names[_fold(key)] = key
        for entry in event_types:
            self.names[_fold(str(entry.label))] = entry.key
            with translation.override("en"):
                self.names[_fold(str(entry.label))] = entry.key
            self.names[_fold(entry.key)] = entry.key
        self.entries: dict[str, EventType | None] = {}

    def find(self, written: str) -> str | None:
        return self.names.get(_fold(written))

    def entry(self, key: str) -> EventType | None:
        if key not in self.entries:
            self.entries[key] = resolve(key)
        return self.entries[key]


def _fold(name: str) -> str:
    return "".join(name.split()).replace("_", "").replace("-", "").lower()


class Planner:
    """Plans the chunks of one file in turn, remembering across them which keys it has seen
    and which customers it is to add, so a key or a new customer repeated far down the file
    is recognised (held as 8-byte digests: a million rows take some tens of MB)."""

    def __init__(self, head: Head, *, now: datetime | None = None) -> None:
        self.head = head
        self.options = head.options
        self.now = now or timezone.now()
        self.targets = {
            i: _remembering(event_target_for(k)) for i, k in self.options.mapping.items()
        }
        self.properties_path = _("the row's properties")
        self.letters = {k: column_name(i + 1) for i, k in self.options.mapping.items()}
        self.types = TypeNames()
        self.zone = organisation_zone()
        self.keys: set[int] = set()
        self.adding: dict[int, int] = {}  # digest of a customer key → row that adds them

    def plan(self, chunk: list[Row], problems: list[Problem]) -> list[Planned]:
        """The chunk's rows as events; refused rows go to ``problems``. Reads the database
        (customers, keys already imported), writes nothing."""
        parsed = [p for row in chunk if (p := self._parse(row, problems)) is not None]
        self._customers(parsed, problems)
        kept = [p for p in parsed if p.customer is not None or p.added_by is not None]
        self._repeats(kept)
        return kept

    # -- one row ----------------------------------------------------------------------------

    def _problem(self, row: int, key: str, value: Any, reason: str) -> Problem:
        letter = self.letters.get(key, "")
        index = next((i for i, k in self.options.mapping.items() if k == key), None)
        header = self.head.headers[index] if index is not None else ""
        shown = values.text(value)[:200]
        if key in ("phone", "email") and shown:
            masked = _masked(key, shown)
            reason, shown = reason.replace(shown, masked), masked
        return Problem(row, letter, header, shown, reason)

    def _parse(self, row: Row, problems: list[Problem]) -> Planned | None:
        number = row[0].row
        found: dict[str, Any] = {}
        refused = False
        for cell in row:
            target: Target | None = self.targets.get(cell.column - 1)
            if target is None or values.text(cell.value) == "":
                continue
            try:
                found[target.key] = target.parse(cell.value)
            except values.ValueRefused as exc:
                refused = True
                problems.append(self._problem(number, target.key, cell.value, str(exc)))
        if refused:
            return None
        entry, reason = self._type(found)
        if entry is None:
            problems.append(self._problem(number, "type", found.get("type", ""), reason))
            return None
        when = self._moment(number, found.get("occurred_at"), problems)
        if when is None:
            return None
        amount = found.get("amount")
        if entry.is_purchase and amount is None:
            problems.append(
                self._problem(
                    number, "amount", "", _("A purchase needs an amount; this row has none.")
                )
            )
            return None
        properties = {
            k.removeprefix("properties."): _plain(v)
            for k, v in found.items()
            if k not in NOT_PROPERTIES
        }
        if amount is not None:
            # As the API receives it: a number (``Event.amount`` keeps it exactly).
            properties["amount"] = int(amount) if amount == amount.to_integral() else float(amount)
        try:  # the limits an event's properties keep, whatever brings them (the API's too)
            check_data(properties, path=self.properties_path)
        except Refusal as exc:
            problems.append(self._problem(number, "", "", exc.message))
            return None
        if entry.has_score:
            try:
                read_scores(properties)
            except ScoreInvalid as exc:
                problems.append(self._problem(number, exc.field, "", exc.message))
                return None
        who = {k: str(found[k]) for k in WHO if found.get(k)}
        if not any(who.get(k) for k in EVENT_CUSTOMER_KEYS):
            problems.append(
                self._problem(number, "", "", _("The row has no customer number, phone or e-mail."))
            )
            return None
        planned = Planned(number, entry.key, when, "", who, amount, properties)
        planned.key = self._key(planned, found)
        return planned

    def _type(self, found: dict[str, Any]) -> tuple[EventType | None, str]:
        written = str(found.get("type") or "")
        key = self.types.find(written) if written else self.options.event_type or None
        entry = self.types.entry(key) if key else None
        if entry is not None:
            return entry, ""
        if not written:
            return None, _("The row has no event type; choose one for the file or fill the column.")
        names = "、".join(str(e.label) for e in event_types)
        return None, _("“%(value)s” is not an event type Huifang knows; use one of: %(names)s.") % {
            "value": written,
            "names": names,
        }

    def _moment(self, row: int, value: Any, problems: list[Problem]) -> datetime | None:
        if value is None:
            problems.append(
                self._problem(row, "occurred_at", "", _("The row does not say when it happened."))
            )
            return None
        moment: datetime = value
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=self.zone)
        if moment.year < 1900 or moment > self.now + FUTURE:
            problems.append(
                self._problem(
                    row,
                    "occurred_at",
                    value,
                    _("%(value)s is not a time an event happened at (before 1900, or to come).")
                    % {"value": values.text(value)},
                )
            )
            return None
        return moment

    def _key(self, planned: Planned, found: dict[str, Any]) -> str:
        """The event's idempotency key: the file's event number as it is; an order, ticket or
        contract number with the type before it (an order is paid, then delivered: two
        events); else a digest of what the row says (the same row imported again is the
        same event)."""
        if found.get("idempotency_key"):
            return str(found["idempotency_key"])
        number = next((str(found[k]) for k in NUMBERS if found.get(k)), "")
        if number:
            return f"{planned.type}:{number}"[:200]
        said = [
            planned.type,
            sorted(planned.who.items()),
            planned.occurred_at.isoformat(),
            sorted(planned.properties.items()),
        ]
        text = json.dumps(said, ensure_ascii=False, default=str, sort_keys=True)
        return f"import:{hashlib.sha256(text.encode()).hexdigest()[:40]}"

    # -- customers and repeats --------------------------------------------------------------

    def _customers(self, rows: list[Planned], problems: list[Problem]) -> None:
        """Each row to its customer: one already there, else (when allowed and the row names
        them) one this import adds, else the row is refused."""
        found: dict[tuple[str, str], int] = {}
        for key in self.options.match_on:
            wanted = sorted({p.who[key] for p in rows if p.who.get(key)})
            if not wanted:
                continue
            for pk, value in (
                Customer.objects.filter(**{f"{key}__in": wanted})
                .order_by("-pk")
                .values_list("pk", key)
            ):
                found[(key, value)] = pk
        for planned in rows:
            keys = [(k, planned.who[k]) for k in self.options.match_on if planned.who.get(k)]
            planned.customer = next((found[k] for k in keys if k in found), None)
            if planned.customer is not None:
                continue
            digests = [_digest(f"{k}\0{v}") for k, v in keys]
            adder = next((self.adding[d] for d in digests if d in self.adding), None)
            if adder is not None:
                planned.added_by = adder
            elif self.options.create_customers and planned.who.get("name") and keys:
                planned.added_by = planned.row
            else:
                key, value = keys[0] if keys else ("", "")
                problems.append(self._problem(planned.row, key, value, self._unknown(planned)))
                continue
            for digest in digests:
                self.adding.setdefault(digest, planned.added_by)

    def _unknown(self, planned: Planned) -> str:
        said = "、".join(
            f"{_label(k)} {_masked(k, planned.who[k])}"
            for k in self.options.match_on
            if planned.who.get(k)
        )
        if not said:
            return _("None of the columns chosen to find customers is filled in this row.")
        if self.options.create_customers:
            return _("No customer has %(said)s, and the row has no name to add them with.") % {
                "said": said
            }
        return _(
            "No customer has %(said)s. Import the customers first, or tick “add customers "
            "not found” (with a name column)."
        ) % {"said": said}

    def _repeats(self, rows: list[Planned]) -> None:
        """Rows whose key was imported before, or came earlier in the file, add nothing."""
        there = set(
            Event.objects.filter(idempotency_key__in=[p.key for p in rows]).values_list(
                "idempotency_key", flat=True
            )
        )
        for planned in rows:
            digest = _digest(planned.key)
            planned.repeated = planned.key in there or digest in self.keys
            self.keys.add(digest)


# Customers' numbers, phones and e-mails repeat down an events file: each is parsed once.
REMEMBERED = ("external_id", "phone", "email", "name")


def _remembering(target: Target | None) -> Target | None:
    if target is None or target.key not in REMEMBERED:
        return target
    return replace(target, parse=lru_cache(maxsize=100_000)(target.parse))


def _label(key: str) -> str:
    return {"external_id": _("customer number"), "phone": _("phone"), "email": _("e-mail")}.get(
        key, key
    )


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
