"""The rule document: what ``huifang rules import|export`` reads and writes (YAML or JSON).

A rule version's content is exactly this document, so the builder, the importer and the engine
all speak one format. ``parse_rule`` checks it completely before anything is saved: types,
known event types and channels, step ids, and every condition (compiled once to prove it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

import pydantic
import yaml
from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from huifang.accounts.assignment import strategy_choices
from huifang.core.hooks import Hook
from huifang.core.sandbox import MAX_SCRIPT_CHARS, TemplateError, check_source
from huifang.core.validation import describe_validation_error
from huifang.customers.event_types import resolve
from huifang.customers.models import Channel

from .conditions import (
    DAY,
    JSON,
    MOMENT,
    ConditionError,
    compile_condition,
    field_spec,
    safe_key,
)

Condition = dict[str, Any]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Duration(Strict):
    """How long: one unit, e.g. ``{days: 3}``; business days skip days off."""

    # At most ten years each: due times are computed by adding these to dates.
    minutes: int | None = Field(None, ge=0, le=10 * 365 * 24 * 60)
    hours: int | None = Field(None, ge=0, le=10 * 365 * 24)
    days: int | None = Field(None, ge=0, le=10 * 365)
    business_days: int | None = Field(None, ge=0, le=10 * 250)

    @model_validator(mode="after")
    def one_unit(self) -> Duration:
        if len(self.model_fields_set) != 1:
            raise ValueError("give exactly one of minutes, hours, days, business_days")
        return self


class EventTrigger(Strict):
    kind: Literal["event"]
    event: str
    where: Condition | None = None
    delay: Duration | None = None


class DateTrigger(Strict):
    """Relative to a date: a customer field (``birthday``, ``attributes.contract_ends_on``) or
    a date property of an event (``event: contract_ends, property: ends_on``)."""

    kind: Literal["date"]
    field: str | None = None
    event: str | None = None
    property: str | None = None
    offset: Duration | None = None
    before: bool = Field(False, description="count the offset back from the date")
    at: str = Field("10:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    @model_validator(mode="after")
    def one_source(self) -> DateTrigger:
        if bool(self.field) == bool(self.event):
            raise ValueError("give either field or event (with property)")
        if self.event and not self.property:
            raise ValueError("an event date needs property")
        return self


class SegmentTrigger(Strict):
    kind: Literal["segment"]
    where: Condition
    include_existing: bool = Field(
        False,
        description="also enroll the customers already in the segment when the rule first runs",
    )


class RecurringTrigger(Strict):
    kind: Literal["recurring"]
    every: Annotated[
        dict[Literal["days", "weeks", "months", "quarters"], Annotated[int, Field(ge=1, le=3650)]],
        Field(min_length=1, max_length=1),
    ]
    where: Condition | None = None


Trigger = Annotated[
    EventTrigger | DateTrigger | SegmentTrigger | RecurringTrigger, Field(discriminator="kind")
]


class QuietHoursIn(Strict):
    start: str = Field(..., pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(..., pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class Cap(Strict):
    channel: str = Field(..., description="a channel, or any")
    max: int = Field(..., ge=1, le=10_000)
    per_days: int = Field(..., ge=1, le=3650)

    @field_validator("channel")
    @classmethod
    def known_channel(cls, value: str) -> str:
        if value != "any" and value not in Channel.values:
            raise ValueError(f"use any or one of {', '.join(Channel.values)}")
        return value


class Policy(Strict):
    quiet_hours: QuietHoursIn | None = None
    days: Literal["any", "business"] = "any"
    caps: list[Cap] = Field(default_factory=list)
    on_cap: Literal["defer", "drop"] = "defer"
    misfire_grace: Duration | None = None
    reenroll_after: Duration | None = None
    max_attempts: int | None = Field(None, ge=1, le=20)


class Send(Strict):
    channel: str | None = None
    channels: list[str] | None = Field(None, min_length=1, description="fallback order")
    template: str = Field(..., min_length=1)
    transactional: bool = False

    @model_validator(mode="after")
    def one_way(self) -> Send:
        if bool(self.channel) == bool(self.channels):
            raise ValueError("give channel or channels")
        for channel in [self.channel] if self.channel else self.channels or []:
            if channel not in Channel.values:
                raise ValueError(f"unknown channel {channel!r}")
        return self


class Assign(Strict):
    """Who gets the step's task: a strategy of ``huifang.tasks.assignment`` (owner,
    round_robin, least_loaded, skill, field), in a team (its key; the customer owner's team
    when empty). ``field`` and ``map`` are for the "field" strategy: ``{"field": "source",
    "map": {"douyin": "user:li", "store": "team:store"}}``."""

    strategy: str = Field(..., min_length=1)
    team: str | None = None
    field: str | None = Field(None, max_length=80)
    map: dict[str, str] | None = None

    @model_validator(mode="after")
    def known_strategy(self) -> Assign:
        known = [key for key, _label in strategy_choices()]
        if self.strategy not in known:
            raise ValueError(
                f"unknown assignment strategy {self.strategy!r}; use one of {', '.join(known)}"
            )
        if self.strategy == "field" and not (self.field and self.map):
            raise ValueError("the field strategy needs field and map")
        return self


class TaskStep(Strict):
    title: str = Field(..., min_length=1, max_length=200)
    script: str | None = Field(None, max_length=MAX_SCRIPT_CHARS)

    @field_validator("script")
    @classmethod
    def readable_script(cls, value: str | None) -> str | None:
        # Its variables are checked where it is rendered (messaging, a layer above); here
        # what would break the task page: nesting and syntax.
        if value:
            try:
                check_source(value, max_chars=MAX_SCRIPT_CHARS)
            except TemplateError as exc:
                raise PydanticCustomError("script", str(exc)) from None
        return value

    sla: Duration | None = None
    assign: Assign | None = None
    priority: Literal["low", "normal", "high", "urgent"] = "normal"


class Branch(Strict):
    when: Condition
    goto: str


class Step(Strict):
    id: str = Field(..., pattern=r"^[A-Za-z][\w-]{0,49}$")
    send: Send | None = None
    task: TaskStep | None = None
    wait: Duration | None = None
    wait_reply: Duration | None = None
    on_reply: Literal["stop", "continue"] | str = "continue"
    branch: list[Branch] | None = None
    stop: bool = False
    # A questionnaire (its key): the message carries a personal link to it ({{问卷链接}}), or
    # the task's agent fills it in during the call. Whether it exists is for the surveys app
    # to say, above this one (``references``).
    survey: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")

    @model_validator(mode="after")
    def does_something(self) -> Step:
        if not (self.send or self.task or self.wait or self.wait_reply or self.branch or self.stop):
            raise ValueError("a step sends, creates a task, waits, branches or stops")
        if self.survey and not (self.send or self.task):
            raise ValueError("a questionnaire goes with a message (send) or a call task (task)")
        return self


class Exit(Strict):
    on: list[str] = Field(default_factory=list)


# Words the studio's own pages use after /rules/: a rule with such a key could not be opened.
RESERVED_KEYS = frozenset({"new", "gallery", "templates", "sets", "dashboard", "surveys"})


class RuleDocument(Strict):
    key: str = Field(..., pattern=r"^[a-z0-9][a-z0-9-]{1,79}$")

    @field_validator("key")
    @classmethod
    def not_reserved(cls, value: str) -> str:
        if value in RESERVED_KEYS:
            raise ValueError(f"{value!r} is reserved for the studio's pages; choose another key")
        return value

    name: str = Field(..., min_length=1, max_length=100)
    description: str = ""
    trigger: Trigger
    audience: Condition | None = None
    policy: Policy = Field(default_factory=lambda: Policy.model_validate({}))
    steps: list[Step] = Field(..., min_length=1)
    exit: Exit = Field(default_factory=lambda: Exit())


class RuleError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


# What only the apps above rules can judge of a document about to be saved: that a step's
# questionnaire exists (surveys), that a template asking for a questionnaire link has one
# (messaging). Each connected function raises ``RuleError`` naming the step; ``save_rule`` and
# the builder's check call them (``check_references``). Stored versions are not checked again:
# a questionnaire archived later makes its messages drop with a reason, not the rule unreadable.
references: Hook[Callable[[RuleDocument], None]] = Hook("rule references")


def check_references(rule: RuleDocument) -> None:
    """Raise ``RuleError`` for the first thing ``rule`` names that does not exist above."""
    references(rule)


def event_type_known(key: str) -> bool:
    return resolve(key) is not None


def parse_rule(data: Any) -> RuleDocument:
    """Check a rule document completely; raise ``RuleError`` naming the first problem."""
    try:
        rule = RuleDocument.model_validate(data)
    except pydantic.ValidationError as exc:
        first = describe_validation_error(exc)[0]
        raise RuleError(first["field"], first["message"]) from None
    trigger = rule.trigger
    if (
        isinstance(trigger, EventTrigger | DateTrigger)
        and trigger.event
        and not event_type_known(trigger.event)
    ):
        raise RuleError(
            "trigger.event", _("“%(value)s” is not a known event type.") % {"value": trigger.event}
        )
    for index, name in enumerate(rule.exit.on):
        if not event_type_known(name):
            raise RuleError(
                f"exit.on.{index}", _("“%(value)s” is not a known event type.") % {"value": name}
            )
    problem = conditions_problem(rule)
    if problem is not None:
        raise problem
    _check_steps(rule)
    return rule


def conditions_problem(rule: RuleDocument) -> RuleError | None:
    """The first field or condition of ``rule`` that is not on the allow-list, if any.

    ``parse_rule`` refuses such a rule; the engine also asks of every stored version before
    it runs one, so a version saved before a field was refused is never executed."""
    try:
        _check_date_source(rule.trigger)
        _check_conditions(rule)
    except RuleError as exc:
        return exc
    return None


def _check_date_source(trigger: Any) -> None:
    if not isinstance(trigger, DateTrigger):
        return
    if trigger.field is not None:
        spec = field_spec(trigger.field)
        if spec is None or spec.kind not in (DAY, MOMENT, JSON):
            raise RuleError(
                "trigger.field",
                _("“%(field)s” is not a date field of customers.") % {"field": trigger.field},
            )
    if trigger.property is not None and not safe_key(trigger.property):
        raise RuleError(
            "trigger.property",
            _("“%(key)s” cannot be used as a property name: use letters, digits, - and _.")
            % {"key": trigger.property},
        )


def _check_conditions(rule: RuleDocument) -> None:
    where = getattr(rule.trigger, "where", None)
    # (place, condition, event properties allowed, answer.* allowed)
    places: list[tuple[str, Condition | None, bool, bool]] = [
        ("trigger.where", where, rule.trigger.kind == "event", False),
        ("audience", rule.audience, False, False),
    ]
    # A branch of a step waiting for a reply may judge the score in that reply.
    places += [
        (f"steps.{i}.branch.{j}.when", branch.when, False, step.wait_reply is not None)
        for i, step in enumerate(rule.steps)
        for j, branch in enumerate(step.branch or [])
    ]
    for place, condition, events, answers in places:
        try:
            compile_condition(condition, events=events, replies=() if answers else None)
        except ConditionError as exc:
            raise RuleError(f"{place}.{exc.path}".rstrip("."), exc.message) from None


def _check_steps(rule: RuleDocument) -> None:
    ids = [step.id for step in rule.steps]
    for index, step_id in enumerate(ids):
        if step_id in ids[:index]:
            raise RuleError(
                f"steps.{index}.id", _("Step id “%(value)s” is used twice.") % {"value": step_id}
            )
    for index, step in enumerate(rule.steps):
        targets = [
            (f"steps.{index}.branch.{j}.goto", b.goto) for j, b in enumerate(step.branch or [])
        ]
        if step.on_reply not in ("stop", "continue"):
            targets.append((f"steps.{index}.on_reply", step.on_reply))
        for place, target in targets:
            if target not in ids:
                raise RuleError(place, _("There is no step “%(value)s”.") % {"value": target})


class _Yaml12Loader(yaml.SafeLoader):
    """YAML with 1.2 booleans: only true / false. PyYAML's 1.1 rules would read the key
    ``on`` (as in ``exit: {on: [...]}``) and words like yes / no / off as booleans."""


_BOOL = "tag:yaml.org,2002:bool"
_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


def load_rule_text(text: str) -> RuleDocument:
    """A rule from YAML or JSON text (JSON is YAML too)."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise RuleError(
            "", _("This is not valid YAML or JSON: %(error)s") % {"error": exc}
        ) from None
    return parse_rule(data)


def dump_rule(rule: RuleDocument) -> dict[str, Any]:
    """The document as plain data, without defaults nobody wrote."""
    return rule.model_dump(mode="json", exclude_unset=True)
