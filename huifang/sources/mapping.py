"""The mapping document: where a source's JSON payload keeps the customer and the event.

A document (YAML or JSON, docs/sources.md) is read once, when it is saved, into a ``Mapping``;
``Mapping.apply(payload)`` then turns a payload into what should be stored — or says why the
payload is ignored (a condition not met) or refused (a value missing or malformed). Nothing
here writes anything: ``services`` stores what this module decides, and the "try a payload"
box shows it without storing.

Paths are JSONPath (``jsonpath-ng``'s extended grammar: ``$.a.b``, ``$.items[*].title``,
``$.items[?price > 10]``), compiled when the document is read so a bad path is refused at save.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo

import yaml
from django.utils.translation import gettext as _
from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext import parse as parse_path
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from huifang.core.limits import Refusal, load_json
from huifang.core.validation import describe_validation_error
from huifang.core.zones import is_zone_name
from huifang.customers.event_types import resolve

MAX_DOCUMENT_CHARS = 20_000
MAX_PATHS = 100  # paths one document may name: each is evaluated on every payload
# Customer fields a mapping may fill besides the identity (``customer.fields``).
CUSTOMER_FIELDS = (
    "company",
    "province",
    "city",
    "source",
    "business_line",
    "gender",
    "birthday",
    "wecom_external_userid",
)
IDENTITY = ("external_id", "phone", "email")
Key = Literal["external_id", "phone", "email"]
# The parts of jsonpath-ng's grammar a mapping may use: plain paths, [*], [n], [a:b], .. and
# filters that compare ([?price > 10]). Its arithmetic, named functions and regular expressions
# are refused: a payload could make them build huge strings or backtrack for minutes.
_ALLOWED_NODES = frozenset(
    {"Root", "This", "Child", "Fields", "Index", "Slice", "Wildcard", "Descendants", "Filter"}
)
_ALLOWED_OPS = frozenset({"==", "!=", "<", ">", "<=", ">="})


class MappingInvalid(ValueError):
    """A document that cannot be used; ``message`` in the user's language names the place."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.message = f"{where}: {message}" if where else message


class PayloadRefused(ValueError):
    """A payload the mapping cannot turn into a customer and an event (HTTP 422)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# -- the document's shape ---------------------------------------------------------------------


class Value(BaseModel):
    """Where one value comes from: a path, or a constant ``value``; ``many``: every match as a
    list (``items``); ``default`` when the path finds nothing."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(None, max_length=500)
    value: Any = None
    many: bool = False
    default: Any = None


Spec = str | Value


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(..., max_length=500)
    equals: Any = None
    not_equals: Any = None
    one_of: list[Any] | None = Field(None, alias="in", max_length=100)
    exists: bool | None = None

    @property
    def test(self) -> str:
        """Which test the condition makes (the one key given besides ``path``)."""
        given = self.model_fields_set - {"path"}
        return next(iter(given)) if len(given) == 1 else ""


class Unpack(BaseModel):
    """A field that carries JSON as text (有赞 sends its order as URL-encoded JSON in ``msg``)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(..., max_length=500)
    format: Literal["json", "urlencoded-json"] = "json"


def _every_key() -> list[Key]:
    return ["external_id", "phone", "email"]


class CustomerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    match: list[Key] = Field(default_factory=_every_key, min_length=1, max_length=3)
    external_id: Spec | None = None
    phone: Spec | None = None
    email: Spec | None = None
    name: Spec | None = None
    fields: dict[str, Spec] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def known_fields(cls, value: dict[str, Spec]) -> dict[str, Spec]:
        for key in value:
            if key not in CUSTOMER_FIELDS:
                raise ValueError(
                    _(
                        "“%(field)s” is not a customer field a source may fill; "
                        "use one of %(known)s."
                    )
                    % {"field": key, "known": ", ".join(CUSTOMER_FIELDS)}
                )
        return value


class EventSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(..., min_length=1, max_length=64)
    occurred_at: Spec | None = None
    idempotency_key: Spec
    properties: dict[str, Spec] = Field(default_factory=dict, max_length=50)


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time_zone: str | None = Field(None, max_length=64)
    unpack: list[Unpack] = Field(default_factory=list, max_length=5)
    when: list[Condition] = Field(default_factory=list, max_length=20)
    customer: CustomerSpec
    event: EventSpec


# -- reading a document -----------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """A ``Value`` with its path compiled."""

    source: str
    path: Any = None
    constant: Any = None
    many: bool = False
    default: Any = None

    def read(self, payload: Any) -> Any:
        if self.path is None:
            return self.constant
        found = [match.value for match in self.path.find(payload)]
        if self.many:
            return found
        if not found or found[0] is None or found[0] == "":
            return self.default
        return found[0] if len(found) == 1 else found


@dataclass
class Mapping:
    document: Document
    zone: ZoneInfo | None
    unpack: list[tuple[Any, str]] = field(default_factory=list)
    conditions: list[tuple[Compiled, Condition]] = field(default_factory=list)
    identity: dict[str, Compiled] = field(default_factory=dict)
    name: Compiled | None = None
    customer_fields: dict[str, Compiled] = field(default_factory=dict)
    occurred_at: Compiled | None = None
    idempotency_key: Compiled | None = None
    properties: dict[str, Compiled] = field(default_factory=dict)

    @property
    def event_type(self) -> str:
        return self.document.event.type

    @property
    def match(self) -> list[str]:
        return list(dict.fromkeys(self.document.customer.match))

    def paths(self, key: str) -> list[str]:
        """The paths of the identity field ``key`` (``phone`` …): masked in the stored log."""
        spec = self.identity.get(key) if key in IDENTITY else None
        return [spec.source] if spec is not None and spec.path is not None else []


def _compile_path(text: str, where: str) -> Any:
    if not text.startswith("$"):
        raise MappingInvalid(
            _("“%(path)s” is not a JSONPath; paths start with $, e.g. $.order.id") % {"path": text},
            where,
        )
    try:
        parsed = parse_path(text)
    except JSONPathError as exc:
        raise MappingInvalid(
            _("“%(path)s” is not a valid JSONPath: %(error)s") % {"path": text, "error": exc},
            where,
        ) from None
    if not _plain(parsed):
        raise MappingInvalid(
            _(
                "“%(path)s” uses a part of JSONPath a mapping may not: use fields, [*], [n], .. "
                "and filters that compare, such as [?price > 10]."
            )
            % {"path": text},
            where,
        )
    return parsed


def _plain(node: Any) -> bool:
    """Whether a parsed path uses only ``_ALLOWED_NODES`` (iteratively: paths nest)."""
    stack = [node]
    while stack:
        item = stack.pop()
        kind = type(item).__name__
        if kind == "Expression":
            if item.op is not None and item.op not in _ALLOWED_OPS:
                return False
            if isinstance(item.value, JSONPath):
                return False
            stack.append(item.target)
            continue
        if kind not in _ALLOWED_NODES:
            return False
        stack.extend(getattr(item, "expressions", []) or [])
        for side in ("left", "right"):
            if isinstance(getattr(item, side, None), JSONPath):
                stack.append(getattr(item, side))
    return True


def _compile(spec: Spec, where: str, counter: list[int]) -> Compiled:
    counter[0] += 1
    if counter[0] > MAX_PATHS:
        raise MappingInvalid(
            _("A mapping may name at most %(limit)s values.") % {"limit": MAX_PATHS}
        )
    if isinstance(spec, str):
        return Compiled(spec, path=_compile_path(spec, where))
    if spec.path is None:
        if spec.value is None:
            raise MappingInvalid(_("Give a path or a value."), where)
        return Compiled(json.dumps(spec.value, ensure_ascii=False), constant=spec.value)
    return Compiled(
        spec.path, path=_compile_path(spec.path, where), many=spec.many, default=spec.default
    )


def read_document(text: str) -> Mapping:
    """The document in ``text`` (YAML, of which JSON is a part), checked; ``MappingInvalid``
    with a message that names the place otherwise."""
    if len(text) > MAX_DOCUMENT_CHARS:
        raise MappingInvalid(
            _("A mapping may be at most %(limit)s characters long.") % {"limit": MAX_DOCUMENT_CHARS}
        )
    try:
        data = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = _(" (line %(line)s)") % {"line": mark.line + 1} if mark is not None else ""
        raise MappingInvalid(
            _("The mapping is not valid YAML or JSON%(line)s.") % {"line": line}
        ) from None
    if not isinstance(data, dict):
        raise MappingInvalid(_("The mapping must be a document with customer and event sections."))
    try:
        document = Document.model_validate(data)
    except ValidationError as exc:
        first = describe_validation_error(exc)[0]
        raise MappingInvalid(first["message"], first["field"]) from None
    return _compiled(document)


def _compiled(document: Document) -> Mapping:
    zone = None
    if document.time_zone:
        if not is_zone_name(document.time_zone):
            raise MappingInvalid(
                _("“%(value)s” is not a time zone; use a name such as Asia/Shanghai.")
                % {"value": document.time_zone},
                "time_zone",
            )
        zone = ZoneInfo(document.time_zone)
    if resolve(document.event.type) is None:
        raise MappingInvalid(
            _("“%(value)s” is not a known event type.") % {"value": document.event.type},
            "event.type",
        )
    counter = [0]
    mapping = Mapping(document, zone)
    for i, unpack in enumerate(document.unpack):
        mapping.unpack.append((_compile_path(unpack.path, f"unpack.{i}.path"), unpack.format))
    for i, condition in enumerate(document.when):
        if not condition.test or (condition.test == "exists" and condition.exists is None):
            raise MappingInvalid(
                _("A condition needs exactly one of equals, not_equals, in or exists."),
                f"when.{i}",
            )
        mapping.conditions.append((_compile(condition.path, f"when.{i}.path", counter), condition))
    customer = document.customer
    for key in IDENTITY:
        spec = getattr(customer, key)
        if spec is not None:
            mapping.identity[key] = _compile(spec, f"customer.{key}", counter)
    if not any(key in mapping.identity for key in customer.match):
        raise MappingInvalid(
            _("Say where the customer's external id, phone or e-mail is, and match on it."),
            "customer.match",
        )
    if customer.name is not None:
        mapping.name = _compile(customer.name, "customer.name", counter)
    for key, spec in customer.fields.items():
        mapping.customer_fields[key] = _compile(spec, f"customer.fields.{key}", counter)
    event = document.event
    if event.occurred_at is not None:
        mapping.occurred_at = _compile(event.occurred_at, "event.occurred_at", counter)
    mapping.idempotency_key = _compile(event.idempotency_key, "event.idempotency_key", counter)
    for key, spec in event.properties.items():
        mapping.properties[key] = _compile(spec, f"event.properties.{key}", counter)
    return mapping


# -- applying a mapping to a payload ----------------------------------------------------------


@dataclass
class Outcome:
    """What a payload becomes: ``ignored`` (with the reason) or a customer and an event."""

    ignored: str = ""
    payload: Any = None  # with its JSON-as-text fields read
    identity: dict[str, str] = field(default_factory=dict)
    name: str = ""
    customer_fields: dict[str, Any] = field(default_factory=dict)
    event: dict[str, Any] = field(default_factory=dict)


def unpacked(mapping: Mapping, payload: Any) -> Any:
    """The payload with its JSON-as-text fields read (``unpack``)."""
    for path, kind in mapping.unpack:
        for match in path.find(payload):
            text = match.value
            if not isinstance(text, str):
                continue
            if kind == "urlencoded-json":
                text = unquote_plus(text)
            try:
                inner = load_json(text)
            except Refusal as refusal:
                raise PayloadRefused(
                    "bad_payload",
                    _("%(path)s does not hold JSON: %(error)s")
                    % {"path": str(match.full_path), "error": refusal.message},
                ) from None
            payload = match.full_path.update(payload, inner)
    return payload


def apply(mapping: Mapping, payload: Any) -> Outcome:
    """What ``payload`` becomes; ``PayloadRefused`` when a value it needs is missing or bad."""
    payload = unpacked(mapping, payload)
    for compiled, condition in mapping.conditions:
        if not _holds(compiled.read(payload), condition):
            return Outcome(ignored=_describe(condition), payload=payload)
    outcome = Outcome(payload=payload)
    for key, compiled in mapping.identity.items():
        value = _text(compiled.read(payload), f"customer.{key}")
        if value:
            outcome.identity[key] = value[:254]
    if not any(outcome.identity.get(key) for key in mapping.match):
        raise PayloadRefused(
            "no_customer",
            _("The payload has no external id, phone or e-mail where the mapping looks for them."),
        )
    if mapping.name is not None:
        outcome.name = _text(mapping.name.read(payload), "customer.name")[:100]
    for key, compiled in mapping.customer_fields.items():
        value = compiled.read(payload)
        if value not in (None, "", []):
            outcome.customer_fields[key] = _text(value, f"customer.fields.{key}")
    assert mapping.idempotency_key is not None  # every document has one
    key = _text(mapping.idempotency_key.read(payload), "event.idempotency_key")
    if not key:
        raise PayloadRefused(
            "no_idempotency_key",
            _("The payload has no value at %(path)s, the event's idempotency key.")
            % {"path": mapping.idempotency_key.source},
        )
    outcome.event = {
        "type": mapping.event_type,
        "occurred_at": _moment(mapping, payload),
        "idempotency_key": key,
        "properties": {
            name: value
            for name, compiled in mapping.properties.items()
            if (value := compiled.read(payload)) is not None
        },
    }
    return outcome


def _holds(value: Any, condition: Condition) -> bool:
    if condition.test == "exists":
        return (value not in (None, "", [])) == condition.exists
    if condition.test == "one_of":
        return any(_same(value, wanted) for wanted in condition.one_of or [])
    if condition.test == "not_equals":
        return not _same(value, condition.not_equals)
    return _same(value, condition.equals)


def _same(value: Any, wanted: Any) -> bool:
    """Equal as JSON, or as text when one side is a number written as text ("1" and 1)."""
    if value == wanted and type(value) is type(wanted):
        return True
    scalar = (str, int, float)
    if isinstance(value, scalar) and isinstance(wanted, scalar):
        if isinstance(value, bool) or isinstance(wanted, bool):
            return False
        return str(value) == str(wanted)
    return False


def _describe(condition: Condition) -> str:
    if condition.test == "exists":
        wanted = _("present") if condition.exists else _("absent")
        return _("%(path)s is not %(wanted)s") % {"path": condition.path, "wanted": wanted}
    if condition.test == "one_of":
        return _("%(path)s is not one of %(values)s") % {
            "path": condition.path,
            "values": json.dumps(condition.one_of, ensure_ascii=False),
        }
    if condition.test == "not_equals":
        return _("%(path)s is %(value)s") % {
            "path": condition.path,
            "value": json.dumps(condition.not_equals, ensure_ascii=False),
        }
    return _("%(path)s is not %(value)s") % {
        "path": condition.path,
        "value": json.dumps(condition.equals, ensure_ascii=False),
    }


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadRefused(
            "bad_value",
            _("%(field)s must be a text or a number, not %(value)s")
            % {"field": where, "value": json.dumps(value, ensure_ascii=False)[:100]},
        )
    return str(value).strip()


_NUMERIC = re.compile(r"\d{9,13}")


def _moment(mapping: Mapping, payload: Any) -> str:
    """The event's time as ISO 8601 text (the event service reads it); the time of arrival when
    the mapping names none. Unix timestamps (seconds or milliseconds) are read as such; a time
    without an offset is read in the document's ``time_zone``, else the organisation's."""
    if mapping.occurred_at is None:
        return ""
    raw = mapping.occurred_at.read(payload)
    if raw is None:
        return ""
    if isinstance(raw, str) and _NUMERIC.fullmatch(raw.strip()):
        raw = int(raw.strip())
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        seconds = raw / 1000 if raw > 10**11 else raw
        try:
            return datetime.fromtimestamp(seconds, UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            raise PayloadRefused(
                "bad_value", _("event.occurred_at: %(value)s is not a time.") % {"value": raw}
            ) from None
    if not isinstance(raw, str):
        raise PayloadRefused("bad_value", _("event.occurred_at must be a time written as text."))
    text = raw.strip()
    if mapping.zone is not None:
        try:
            moment = datetime.fromisoformat(text.replace("/", "-"))
        except ValueError:
            raise PayloadRefused(
                "bad_value",
                _("event.occurred_at: “%(value)s” is not a time such as 2026-09-08 10:00:00.")
                % {"value": text[:50]},
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=mapping.zone)
        return moment.isoformat()
    return text
