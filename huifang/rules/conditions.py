"""Conditions are data: AND / OR groups of ``{field, op, value}`` compiled to a Django ``Q``.

    {"all": [{"field": "tier", "op": "in", "value": ["vip", "regular"]},
             {"any": [{"field": "spend_12m", "op": "gt", "value": 50000},
                      {"field": "tags", "op": "contains", "value": "会员"}]}]}

Fields are customer attributes, derived figures, tags, custom attributes (``attributes.<key>``),
for event triggers, event properties (``properties.<key>``), and, in a branch of a step waiting
for a reply, the score in that reply (``answer.csat``, ``answer.nps``, ``answer.ces``). Every
condition is validated before it is saved, with a message naming the field; evaluation is one
SQL query over all customers, never a Python loop and never ``eval``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Exists, JSONField, Min, OuterRef, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from huifang.core.limits import day_in_range
from huifang.core.scores import CES, CSAT, NPS, Scale
from huifang.customers.models import Channel, Customer, Event, Language, LifecycleStage, Tier

TEXT, NUMBER, MOMENT, DAY, ENUM, BOOL, TAGS, JSON, SCORE = (
    "text",
    "number",
    "datetime",
    "date",
    "enum",
    "bool",
    "tags",
    "json",
    "score",
)

OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    TEXT: ("eq", "ne", "in", "not_in", "contains", "is_empty"),
    ENUM: ("eq", "ne", "in", "not_in", "is_empty"),
    NUMBER: ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "between", "is_empty"),
    MOMENT: ("lt", "lte", "gt", "gte", "between", "within_last_days", "before_days", "is_empty"),
    DAY: ("eq", "lt", "lte", "gt", "gte", "between", "within_last_days", "before_days", "is_empty"),
    BOOL: ("eq", "is_empty"),
    TAGS: ("contains", "in", "not_in", "is_empty"),
    JSON: ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "between", "contains", "is_empty"),
    # A reply's score: a reply without one matches no condition on it, so no is_empty.
    SCORE: ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "between"),
}
ALL_OPS = sorted({op for ops in OPS_BY_KIND.values() for op in ops})


@dataclass(frozen=True)
class FieldSpec:
    kind: str
    lookup: str  # the ORM path
    choices: tuple[str, ...] = ()


CUSTOMER_FIELDS: dict[str, FieldSpec] = {
    "name": FieldSpec(TEXT, "name"),
    "phone": FieldSpec(TEXT, "phone"),
    "email": FieldSpec(TEXT, "email"),
    "external_id": FieldSpec(TEXT, "external_id"),
    "province": FieldSpec(TEXT, "province"),
    "city": FieldSpec(TEXT, "city"),
    "source": FieldSpec(TEXT, "source"),
    "business_line": FieldSpec(TEXT, "business_line"),
    "company": FieldSpec(TEXT, "company"),
    "time_zone": FieldSpec(TEXT, "time_zone"),
    "owner": FieldSpec(TEXT, "owner__username"),
    "tier": FieldSpec(ENUM, "tier", tuple(Tier.values)),
    "lifecycle_stage": FieldSpec(ENUM, "lifecycle_stage", tuple(LifecycleStage.values)),
    "preferred_channel": FieldSpec(ENUM, "preferred_channel", tuple(Channel.values)),
    "language": FieldSpec(ENUM, "language", tuple(Language.values)),
    "gender": FieldSpec(ENUM, "gender", ("f", "m")),
    "do_not_contact": FieldSpec(BOOL, "do_not_contact"),
    "birthday": FieldSpec(DAY, "birthday"),
    "created_at": FieldSpec(MOMENT, "created_at"),
    "first_purchase_at": FieldSpec(MOMENT, "first_purchase_at"),
    "last_purchase_at": FieldSpec(MOMENT, "last_purchase_at"),
    "last_contact_at": FieldSpec(MOMENT, "last_contact_at"),
    "last_reply_at": FieldSpec(MOMENT, "last_reply_at"),
    "order_count": FieldSpec(NUMBER, "order_count"),
    "total_spend": FieldSpec(NUMBER, "total_spend"),
    "spend_12m": FieldSpec(NUMBER, "spend_12m"),
    "last_satisfaction": FieldSpec(NUMBER, "last_satisfaction"),
    # Survey scores, each on its own scale: the latest, and the average of the last 12 months.
    "csat": FieldSpec(NUMBER, "last_satisfaction"),
    "nps": FieldSpec(NUMBER, "last_nps"),
    "ces": FieldSpec(NUMBER, "last_ces"),
    "csat_12m": FieldSpec(NUMBER, "csat_12m"),
    "nps_12m": FieldSpec(NUMBER, "nps_12m"),
    "ces_12m": FieldSpec(NUMBER, "ces_12m"),
    "complaint_count": FieldSpec(NUMBER, "complaint_count"),
    "tags": FieldSpec(TAGS, "tags__name"),
}
# The score in the reply that moved a step waiting for one (``wait_reply``), by its Event
# column: judged on that reply, never on the customer's figures, which may be months old.
ANSWER_FIELDS: dict[str, FieldSpec] = {
    "answer.csat": FieldSpec(SCORE, "score"),
    "answer.nps": FieldSpec(SCORE, "nps"),
    "answer.ces": FieldSpec(SCORE, "ces"),
}
# The scale each ``answer.*`` field is on: a value outside it could never match (a typo such as
# ``answer.csat lt 30`` would send every scored reply down the branch), so it is refused.
ANSWER_SCALES: dict[str, Scale] = {"answer.csat": CSAT, "answer.nps": NPS, "answer.ces": CES}
# A custom attribute's or event property's key a condition may name: letters, digits, "-" and
# "_" inside, at most 64 characters. The key becomes part of an ORM path, so it must not be
# able to say anything else: "__" would start a lookup of its own (``x__regex`` ran a pattern
# the API can set: ReDoS), and a key named like a lookup (``regex``, ``contains``) would apply
# it to the whole field.
_KEY = re.compile(r"^[^\W_](?:[\w-]{0,62}[^\W_])?$")
_LOOKUP_NAMES = frozenset(JSONField().get_lookups())
# Work a condition may ask of the database: groups nested, conditions in all, values in a list.
MAX_DEPTH = 6
MAX_CONDITIONS = 100
MAX_VALUES = 1000
MAX_TEXT = 500
MAX_DAYS = 36500
MAX_NUMBER = Decimal(10) ** 15


class ConditionError(ValueError):
    """A condition that cannot be saved; ``path`` says where (``all.1.value``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path, self.message = path, message


def safe_key(key: str) -> bool:
    """Whether a condition may name the custom attribute or event property ``key``."""
    return bool(_KEY.match(key)) and "__" not in key and key not in _LOOKUP_NAMES


def field_spec(name: str, *, events: bool = False, answers: bool = False) -> FieldSpec | None:
    """The field a condition names, from the allow-list: the customer's own fields and
    ``attributes.<key>`` (and for events ``properties.<key>``) with a ``safe_key``; with
    ``answers``, also the reply's scores (``answer.csat`` …)."""
    if answers and name in ANSWER_FIELDS:
        return ANSWER_FIELDS[name]
    if name in CUSTOMER_FIELDS:
        return CUSTOMER_FIELDS[name]
    prefix, _dot, key = name.partition(".")
    if safe_key(key):
        if prefix == "attributes":
            return FieldSpec(JSON, f"attributes__{key}")
        if prefix == "properties" and events:
            return FieldSpec(JSON, f"properties__{key}")
    return None


def compile_condition(
    condition: Mapping[str, Any] | None,
    *,
    now: datetime | None = None,
    events: bool = False,
    prefix: str = "",
    replies: Sequence[int] | None = None,
) -> Q:
    """Validate ``condition`` and return it as a ``Q`` over customers (or events).

    ``prefix`` puts the lookups under a relation, e.g. ``"customer__"`` to filter events by
    their customer's attributes. ``replies`` allows the ``answer.*`` fields (a branch of a
    step waiting for a reply): they hold when one of these reply events carries a matching
    score; elsewhere (``None``) they are refused. Raises ``ConditionError`` for anything it
    cannot compile.
    """
    if not condition:
        return Q()
    _check_shape(condition)
    where = _Where(now or timezone.now(), events, prefix, replies)
    return _compile(condition, "", where)


@dataclass(frozen=True)
class _Where:
    """What a condition is compiled for: the moment, whether event properties may be named,
    the relation to the customer, and the replies ``answer.*`` fields judge (if allowed)."""

    now: datetime
    events: bool
    prefix: str
    replies: Sequence[int] | None


CLOCKED_OPS = ("within_last_days", "before_days")


@dataclass(frozen=True)
class Clocked:
    """A part of a condition whose truth the clock alone changes: a moment or a day counted
    back from now (``within_last_days``, ``before_days``). Every other part changes only with
    the data. ``lookup`` is a column of the customer (moments and days are no others)."""

    lookup: str
    kind: str  # MOMENT or DAY
    op: str
    days: int


def clocked(condition: Mapping[str, Any] | None) -> list[Clocked]:
    """The clocked parts of a valid condition (``compile_condition`` accepted it)."""
    found: list[Clocked] = []
    stack = [condition] if condition else []
    while stack:
        node = stack.pop()
        group = next((g for g in ("all", "any") if g in node), None)
        if group is not None:
            stack.extend(node[group])
            continue
        spec = field_spec(node["field"])
        if node["op"] in CLOCKED_OPS and spec is not None:
            found.append(Clocked(spec.lookup, spec.kind, node["op"], int(node["value"])))
    return found


def next_turn(conditions: Sequence[Mapping[str, Any] | None], after: datetime) -> datetime | None:
    """From when the customers that valid ``conditions`` (all of them) select may differ from
    those they select at ``after`` though no customer's data changes: the first moment one of
    their clocked parts turns for some customer; ``None`` when the clock alone never changes
    them. Judged from ``after`` on, a condition selects the same customers before that moment.
    One query."""
    candidates: list[tuple[Any, Callable[[Any], datetime]]] = []
    for condition in conditions:
        for part in clocked(condition):
            candidates += _turns(part, after)
    if not candidates:
        return None
    found = Customer.objects.aggregate(
        **{f"m{i}": aggregate for i, (aggregate, _moment) in enumerate(candidates)}
    )
    return min(
        (moment(found[f"m{i}"]) for i, (_a, moment) in enumerate(candidates) if found[f"m{i}"]),
        default=None,
    )


def _turns(part: Clocked, after: datetime) -> list[tuple[Any, Callable[[Any], datetime]]]:
    """For each way ``part`` can turn after ``after``: the aggregate finding the first value
    to turn, and the moment that value turns. As ``compile_condition`` judges them,
    ``before_days`` N holds while the value is before ``now`` − N (a day: before that moment's
    date, in ``now``'s zone), and ``within_last_days`` N while it is also at most ``now`` (a
    day: at most ``now``'s date in the default time zone, as Django compares a date with a
    moment)."""
    field, days = part.lookup, timedelta(days=part.days)
    since = after - days
    if part.kind == DAY:
        here = after.tzinfo or timezone.get_default_timezone()
        default = timezone.get_default_timezone()
        older: tuple[Any, Callable[[Any], datetime]] = (
            Min(field, filter=Q(**{f"{field}__gte": since.date()})),
            lambda day: _midnight_in(day + timedelta(days=1), here) + days,
        )
        today = timezone.localtime(after, default).date()
        coming: tuple[Any, Callable[[Any], datetime]] = (
            Min(field, filter=Q(**{f"{field}__gt": today})),
            lambda day: _midnight_in(day, default),
        )
    else:
        older = (Min(field, filter=Q(**{f"{field}__gte": since})), lambda moment: moment + days)
        coming = (Min(field, filter=Q(**{f"{field}__gt": after})), lambda moment: moment)
    return [older] if part.op == "before_days" else [older, coming]


def _midnight_in(day: date, zone: Any) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def _check_shape(condition: Any) -> None:
    """Bound the tree before compiling it (which recurses): groups nested at most
    ``MAX_DEPTH`` deep, at most ``MAX_CONDITIONS`` conditions in all."""
    stack: list[tuple[Any, str, int]] = [(condition, "", 0)]
    leaves = 0
    while stack:
        node, path, depth = stack.pop()
        group = next((g for g in ("all", "any") if isinstance(node, Mapping) and g in node), None)
        items = node[group] if group else None
        if group is None or not isinstance(items, list):
            leaves += 1
            if leaves > MAX_CONDITIONS:
                raise ConditionError(
                    path,
                    _("A rule may have at most %(limit)s conditions in one place.")
                    % {"limit": MAX_CONDITIONS},
                )
            continue
        if depth >= MAX_DEPTH:
            raise ConditionError(
                path,
                _("Condition groups may nest at most %(limit)s deep.") % {"limit": MAX_DEPTH},
            )
        stack.extend(
            (item, _join(path, group, str(index)), depth + 1) for index, item in enumerate(items)
        )


def validate_condition(condition: Mapping[str, Any] | None, *, events: bool = False) -> None:
    compile_condition(condition, events=events)


def _compile(node: Any, path: str, where: _Where) -> Q:
    if not isinstance(node, Mapping):
        raise ConditionError(path, _("A condition must be an object."))
    for group, join in (("all", Q.__and__), ("any", Q.__or__)):
        if group in node:
            if set(node) != {group}:
                raise ConditionError(path, _("A group has only “all” or only “any”."))
            items = node[group]
            if not isinstance(items, list) or not items:
                raise ConditionError(_join(path, group), _("A group needs a list of conditions."))
            result: Q | None = None
            for index, item in enumerate(items):
                part = _compile(item, _join(path, group, str(index)), where)
                result = part if result is None else join(result, part)
            return result or Q()
    return _leaf(node, path, where)


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _leaf(node: Mapping[str, Any], path: str, where: _Where) -> Q:
    unknown = set(node) - {"field", "op", "value"}
    if unknown:
        raise ConditionError(
            path, _("Unknown keys: %(keys)s.") % {"keys": ", ".join(sorted(unknown))}
        )
    name, op = node.get("field"), node.get("op")
    if isinstance(name, str) and name in ANSWER_FIELDS and where.replies is None:
        raise ConditionError(
            _join(path, "field"),
            _(
                "“%(field)s” judges the reply that moved a step: use it only in a branch of "
                "a step with wait_reply."
            )
            % {"field": name},
        )
    answers = where.replies is not None
    spec = field_spec(name, events=where.events, answers=answers) if isinstance(name, str) else None
    if spec is None:
        raise ConditionError(
            _join(path, "field"),
            _("“%(field)s” is not a field you can filter on.") % {"field": name},
        )
    if op not in OPS_BY_KIND[spec.kind]:
        raise ConditionError(
            _join(path, "op"),
            _("“%(op)s” does not work on %(field)s; use one of: %(ops)s.")
            % {"op": op, "field": name, "ops": ", ".join(OPS_BY_KIND[spec.kind])},
        )
    value_path = _join(path, "value")
    value = _value(spec, op, node.get("value"), value_path, str(name))
    if spec.kind == SCORE:
        return _answered(spec, op, value, where)
    # Event properties belong to the event itself; everything else to its customer.
    lookup = spec.lookup if spec.lookup.startswith("properties__") else where.prefix + spec.lookup
    return _OPS[op](lookup, value, spec, where.now)


def _answered(spec: FieldSpec, op: str, value: Any, where: _Where) -> Q:
    """One of the replies carries a score that matches (a reply without one never does)."""
    replies = list(where.replies or [])
    if not replies:
        return Q(pk__in=[])  # no reply (the wait timed out): nothing to judge, no match
    score = _OPS[op](spec.lookup, value, spec, where.now) & Q(**{f"{spec.lookup}__isnull": False})
    events = Event.objects.filter(pk__in=replies, customer_id=OuterRef(f"{where.prefix}pk"))
    return Q(Exists(events.filter(score)))


def _value(spec: FieldSpec, op: str, raw: Any, path: str, name: str) -> Any:
    if op == "is_empty":
        if raw not in (None, True, False):
            raise ConditionError(path, _("is_empty takes true, false or no value."))
        return raw is not False
    if op in ("within_last_days", "before_days"):
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_DAYS:
            raise ConditionError(
                path, _("Give a whole number of days up to %(limit)s.") % {"limit": MAX_DAYS}
            )
        return raw
    if op == "between":
        if not isinstance(raw, list) or len(raw) != 2:
            raise ConditionError(path, _("between takes a list of two values: [from, to]."))
        return [_scalar(spec, item, f"{path}.{i}", name) for i, item in enumerate(raw)]
    if op in ("in", "not_in") or (spec.kind == TAGS and op == "contains"):
        items = raw if isinstance(raw, list) else [raw]
        if not items or (op != "contains" and not isinstance(raw, list)):
            raise ConditionError(path, _("Give a non-empty list of values."))
        if len(items) > MAX_VALUES:
            raise ConditionError(path, _("Give at most %(limit)s values.") % {"limit": MAX_VALUES})
        return [_scalar(spec, item, f"{path}.{i}", name) for i, item in enumerate(items)]
    return _scalar(spec, raw, path, name)


def _scalar(spec: FieldSpec, raw: Any, path: str, name: str) -> Any:
    if raw is None:
        raise ConditionError(path, _("A value is needed."))
    if isinstance(raw, str) and (len(raw) > MAX_TEXT or "\x00" in raw):
        raise ConditionError(
            path,
            _("A value is text of at most %(limit)s characters, without NUL.")
            % {"limit": MAX_TEXT},
        )
    kind = spec.kind
    if kind in (TEXT, TAGS):
        if not isinstance(raw, str | int):
            raise ConditionError(path, _("%(field)s takes text.") % {"field": name})
        return str(raw)
    if kind == ENUM:
        if raw not in spec.choices:
            raise ConditionError(
                path,
                _("%(field)s is one of: %(values)s.")
                % {"field": name, "values": ", ".join(spec.choices)},
            )
        return raw
    if kind in (NUMBER, SCORE):
        try:
            if isinstance(raw, bool):
                raise InvalidOperation
            number = Decimal(str(raw))
            if not number.is_finite() or abs(number) >= MAX_NUMBER:
                raise InvalidOperation
        except InvalidOperation:
            raise ConditionError(path, _("%(field)s takes a number.") % {"field": name}) from None
        scale = ANSWER_SCALES.get(name) if kind == SCORE else None
        if scale is not None and not scale.low <= number <= scale.high:
            raise ConditionError(
                path,
                _("%(field)s is a score from %(low)s to %(high)s.")
                % {"field": name, "low": scale.low, "high": scale.high},
            )
        return number
    if kind == BOOL:
        if not isinstance(raw, bool):
            raise ConditionError(path, _("%(field)s takes true or false.") % {"field": name})
        return raw
    if kind == MOMENT:
        moment = _parsed(parse_datetime, raw) or _midnight(_parsed(parse_date, raw))
        if moment is None or not day_in_range(moment.date()):
            raise ConditionError(
                path, _("%(field)s takes a date or date and time.") % {"field": name}
            )
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment)
    if kind == DAY:
        day = _parsed(parse_date, raw)
        if day is None or not day_in_range(day):
            raise ConditionError(path, _("%(field)s takes a date (YYYY-MM-DD).") % {"field": name})
        return day
    if isinstance(raw, dict | list):  # JSON: compare scalars only
        raise ConditionError(
            path, _("%(field)s is compared with a single value.") % {"field": name}
        )
    if isinstance(raw, int | float) and not isinstance(raw, bool) and not abs(raw) < MAX_NUMBER:
        raise ConditionError(path, _("%(field)s takes a number.") % {"field": name})
    return raw


def _parsed(parse: Callable[[str], Any], raw: Any) -> Any:
    """Django's date parsers raise ``ValueError`` for a well-formed but impossible date."""
    try:
        return parse(str(raw))
    except ValueError:
        return None


def _midnight(day: date | None) -> datetime | None:
    return datetime(day.year, day.month, day.day) if day else None


def _since(spec: FieldSpec, now: datetime, days: int) -> Any:
    moment = now - timedelta(days=days)
    return moment.date() if spec.kind == DAY else moment


def _empty(lookup: str, empty: bool, spec: FieldSpec) -> Q:
    if spec.kind == TAGS:
        q = Q(~Exists(_tag_rows(lookup, None)))
    elif spec.kind in (TEXT, ENUM):
        q = Q(**{f"{lookup}__isnull": True}) | Q(**{lookup: ""})
    else:
        q = Q(**{f"{lookup}__isnull": True})
    return q if empty else ~q


def _tags(lookup: str, names: list[str], *, every: bool) -> Q:
    if every:
        result = Q()
        for tag in names:
            result &= Q(**{f"{lookup.removesuffix('tags__name')}pk__in": _tagged(tag)})
        return result
    # A sub-select, not a join to the tags: a join yields a customer once per matching tag.
    return Q(**{f"{lookup.removesuffix('tags__name')}pk__in": _tagged_any(names)})


def _tagged(tag: str) -> Any:
    return Customer.tags.through.objects.filter(tag__name=tag).values("customer_id")


def _contains(lookup: str, value: Any, spec: FieldSpec, now: datetime) -> Q:
    if spec.kind == TAGS:
        return _tags(lookup, value, every=True)
    return Q(**{f"{lookup}__icontains": value})


def _in(lookup: str, value: Any, spec: FieldSpec, now: datetime) -> Q:
    if spec.kind == TAGS:
        return _tags(lookup, value, every=False)
    return Q(**{f"{lookup}__in": value})


def _not_in(lookup: str, value: Any, spec: FieldSpec, now: datetime) -> Q:
    if spec.kind == TAGS:
        # NOT EXISTS rather than NOT IN (sub-select): PostgreSQL plans the latter as a
        # nested loop once the tagged set outgrows work_mem.
        return Q(~Exists(_tag_rows(lookup, value)))
    return ~Q(**{f"{lookup}__in": value}) | Q(**{f"{lookup}__isnull": True})


def _tag_rows(lookup: str, tags: list[str] | None) -> Any:
    """The customer's rows in the customer–tag table (with one of ``tags``, when given), for
    ``EXISTS``; ``lookup`` may sit under a relation (``customer__tags__name``)."""
    base = lookup.removesuffix("tags__name")
    rows = Customer.tags.through.objects.filter(
        customer_id=OuterRef(f"{base.removesuffix('__')}_id" if base else "pk")
    )
    return rows.filter(tag__name__in=tags) if tags is not None else rows


def _tagged_any(tags: list[str]) -> Any:
    return Customer.tags.through.objects.filter(tag__name__in=tags).values("customer_id")


def _cmp(op: str) -> Callable[[str, Any, FieldSpec, datetime], Q]:
    return lambda lookup, value, spec, now: Q(**{f"{lookup}__{op}": value})


_OPS: dict[str, Callable[[str, Any, FieldSpec, datetime], Q]] = {
    "eq": lambda lookup, value, spec, now: Q(**{lookup: value}),
    "ne": lambda lookup, value, spec, now: ~Q(**{lookup: value}) | Q(**{f"{lookup}__isnull": True}),
    "in": _in,
    "not_in": _not_in,
    "lt": _cmp("lt"),
    "lte": _cmp("lte"),
    "gt": _cmp("gt"),
    "gte": _cmp("gte"),
    "between": lambda lookup, value, spec, now: Q(
        **{f"{lookup}__gte": value[0], f"{lookup}__lte": value[1]}
    ),
    "contains": _contains,
    "is_empty": lambda lookup, value, spec, now: _empty(lookup, value, spec),
    "within_last_days": lambda lookup, value, spec, now: Q(
        **{f"{lookup}__gte": _since(spec, now, value), f"{lookup}__lte": now}
    ),
    "before_days": lambda lookup, value, spec, now: Q(
        **{f"{lookup}__lt": _since(spec, now, value)}
    ),
}
