"""Message templates: Jinja2 in a sandbox, with an allow-list of variables.

A template is text staff write, so it is treated as untrusted (DESIGN.md invariant 7):

- it is rendered by Jinja2's ``SandboxedEnvironment`` over plain strings only — the customer,
  the event and the enrollment are copied into dictionaries of text first, so no Python object
  is reachable whatever the template tries;
- only the variables listed in ``VARIABLES`` exist, by their Chinese name (``{{客户姓名}}``) or
  their English one (``{{customer.name}}``); anything else is refused when the template is
  saved, with the unknown name in the message;
- only ``if`` / ``elif`` / ``else``, comparisons and a handful of filters are allowed: no loops,
  no calls, no assignments, no includes, no multiplication;
- the work is bounded before and while it runs (``huifang.core.sandbox``): the length
  (``MAX_TEMPLATE_CHARS``) and nesting of the source; when saved, an upper bound of the text it
  can make, counting each variable as ``VARIABLE_ESTIMATE_CHARS`` characters (a chain of
  ``replace`` filters multiplies it); and while rendering, a budget that refuses any value or
  output over ``MAX_OUTPUT_CHARS`` before making it, and limits the work and time.

Task scripts are the same language, rendered the same way (``MAX_SCRIPT_CHARS`` long at most).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from jinja2 import StrictUndefined, UndefinedError, nodes
from jinja2.sandbox import SecurityError

from huifang.core import sandbox
from huifang.core.sandbox import FILTERS, MAX_OUTPUT_CHARS, MAX_SCRIPT_CHARS
from huifang.core.sandbox import TemplateError as TemplateError
from huifang.organisation.zones import customer_zone

MAX_TEMPLATE_CHARS = 10_000
MAX_SUBJECT_CHARS = 200  # TemplateVersion.subject
# What a variable is counted as when a template is saved: the bound of the text it can make
# must stay under MAX_OUTPUT_CHARS (while rendering, the real values are measured).
VARIABLE_ESTIMATE_CHARS = 100

__all__ = [
    "FILTERS",
    "MAX_OUTPUT_CHARS",
    "MAX_SCRIPT_CHARS",
    "MAX_SUBJECT_CHARS",
    "MAX_TEMPLATE_CHARS",
    "VARIABLES",
    "Context",
    "TemplateError",
    "names_used",
    "render",
    "validate",
    "values",
    "variables_used",
]

# Statements and expressions a message template may use; everything else is refused.
_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.Name,
    nodes.Getattr,
    nodes.Const,
    nodes.Filter,
    nodes.Test,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Concat,
    nodes.CondExpr,
    nodes.Keyword,
    nodes.List,
    nodes.Tuple,
)


@dataclass(frozen=True)
class Context:
    """What a message is about: the customer, the triggering event, the moment, the links."""

    customer: Any
    event: Any = None
    now: datetime | None = None
    links: Mapping[str, str] = field(default_factory=dict)


def _zone(context: Context) -> ZoneInfo:
    # The customer's own date, judged as the gate judges quiet hours (one helper, one fallback).
    return customer_zone(context.customer)


def _event_date(context: Context) -> str:
    if context.event is None:
        return ""
    return context.event.occurred_at.astimezone(_zone(context)).date().isoformat()


def _days_since_event(context: Context) -> str:
    if context.event is None or context.now is None:
        return ""
    zone = _zone(context)
    days = context.now.astimezone(zone).date() - context.event.occurred_at.astimezone(zone).date()
    return str(days.days)


def _property(key: str) -> Callable[[Context], str]:
    def read(context: Context) -> str:
        if context.event is None:
            return ""
        value = (context.event.properties or {}).get(key, "")
        return "" if value is None else str(value)

    return read


def _customer(attribute: str) -> Callable[[Context], str]:
    def read(context: Context) -> str:
        value = getattr(context.customer, attribute, "")
        return "" if value is None else str(value)

    return read


@dataclass(frozen=True)
class Variable:
    chinese: str
    english: str  # namespace.name
    label: Any
    read: Callable[[Context], str]


VARIABLES: tuple[Variable, ...] = (
    Variable("客户姓名", "customer.name", gettext_lazy("Customer name"), _customer("name")),
    Variable(
        "会员等级",
        "customer.tier",
        gettext_lazy("Customer tier"),
        lambda context: str(context.customer.get_tier_display()),
    ),
    Variable("城市", "customer.city", gettext_lazy("Customer city"), _customer("city")),
    Variable("购买日期", "event.date", gettext_lazy("Date of the event"), _event_date),
    Variable(
        "产品名称", "event.product", gettext_lazy("Product of the event"), _property("product")
    ),
    Variable("订单号", "event.order_id", gettext_lazy("Order number"), _property("order_id")),
    Variable("订单金额", "event.amount", gettext_lazy("Order amount"), _property("amount")),
    Variable("使用天数", "event.days", gettext_lazy("Days since the event"), _days_since_event),
    Variable(
        "回访链接",
        "links.followup",
        gettext_lazy(
            "Follow-up link (made when the message is sent): the questionnaire link when the "
            "step names a questionnaire"
        ),
        lambda context: context.links.get("followup", ""),
    ),
    Variable(
        "问卷链接",
        "links.survey",
        gettext_lazy("Questionnaire link: personal, of the step's questionnaire (made when sent)"),
        lambda context: context.links.get("survey", ""),
    ),
    Variable(
        "退订链接",
        "links.unsubscribe",
        gettext_lazy("Unsubscribe link (made when the message is sent)"),
        lambda context: context.links.get("unsubscribe", ""),
    ),
)

_NAMES = {v.chinese for v in VARIABLES}
_PATHS = {v.english for v in VARIABLES}
_NAMESPACES = {path.split(".")[0] for path in _PATHS}


_ENV = sandbox.BoundedSandbox(undefined=StrictUndefined, keep_trailing_newline=True)


def _path(node: nodes.Getattr) -> str | None:
    parts = [node.attr]
    inner = node.node
    while isinstance(inner, nodes.Getattr):
        parts.append(inner.attr)
        inner = inner.node
    if not isinstance(inner, nodes.Name):
        return None
    parts.append(inner.name)
    return ".".join(reversed(parts))


def _check(node: nodes.Node) -> None:
    if not isinstance(node, _ALLOWED_NODES):
        raise TemplateError(
            _("Line %(line)s: “%(what)s” is not allowed in a message template.")
            % {"line": node.lineno, "what": type(node).__name__}
        )
    if isinstance(node, nodes.Getattr):
        path = _path(node)
        if path not in _PATHS:
            raise TemplateError(
                _("Line %(line)s: unknown variable “%(name)s”.")
                % {"line": node.lineno, "name": path or node.attr}
            )
        return  # the chain below is the namespace, already checked
    if isinstance(node, nodes.Name):
        if node.name in _NAMESPACES:
            raise TemplateError(
                _("Line %(line)s: “%(name)s” needs a field, e.g. “%(example)s”.")
                % {
                    "line": node.lineno,
                    "name": node.name,
                    "example": next(p for p in sorted(_PATHS) if p.startswith(node.name + ".")),
                }
            )
        if node.name not in _NAMES:
            raise TemplateError(
                _("Line %(line)s: unknown variable “%(name)s”.")
                % {"line": node.lineno, "name": node.name}
            )
        return
    if isinstance(node, nodes.Filter) and node.name not in FILTERS:
        raise TemplateError(
            _("Line %(line)s: the filter “%(name)s” is not allowed.")
            % {"line": node.lineno, "name": node.name}
        )
    for child in node.iter_child_nodes():
        _check(child)


@lru_cache(maxsize=512)
def _compiled(source: str, max_chars: int = MAX_TEMPLATE_CHARS) -> sandbox.BoundedTemplate:
    tree = sandbox.parse(_ENV, source, max_chars=max_chars)
    _check(tree)
    if sandbox.estimate(tree, VARIABLE_ESTIMATE_CHARS) > MAX_OUTPUT_CHARS:
        raise TemplateError(
            _(
                "This template could make a text longer than %(limit)s characters, the limit "
                "(counting each variable as %(chars)s characters): use fewer or shorter "
                "replacements."
            )
            % {"limit": f"{MAX_OUTPUT_CHARS:,}", "chars": VARIABLE_ESTIMATE_CHARS}
        )
    return sandbox.compile_tree(_ENV, tree)


def validate(source: str, *, max_chars: int = MAX_TEMPLATE_CHARS) -> None:
    """Raise ``TemplateError`` if ``source`` cannot be a message template (or, with
    ``max_chars=MAX_SCRIPT_CHARS``, a task script)."""
    _compiled(source, max_chars)


def variables_used(source: str) -> list[str]:
    """The variables a valid template uses, by the name it uses them with."""
    found: list[str] = []

    def walk(node: nodes.Node) -> None:
        if isinstance(node, nodes.Getattr):
            path = _path(node)
            if path and path not in found:
                found.append(path)
            return
        if isinstance(node, nodes.Name) and node.name not in found:
            found.append(node.name)
        for child in node.iter_child_nodes():
            walk(child)

    validate(source)
    walk(_ENV.parse(source))
    return found


def values(context: Context, names: Iterable[str] | None = None) -> dict[str, Any]:
    """The allowed variables for ``context`` (only ``names`` when given: what the template
    uses), as text, by Chinese name and by namespace."""
    wanted = None if names is None else set(names)
    flat: dict[str, Any] = {}
    for variable in VARIABLES:
        if wanted is not None and variable.chinese not in wanted and variable.english not in wanted:
            continue
        text = variable.read(context)
        flat[variable.chinese] = text
        namespace, name = variable.english.split(".")
        flat.setdefault(namespace, {})[name] = text
    return flat


@lru_cache(maxsize=512)
def names_used(source: str) -> tuple[str, ...]:
    """``variables_used``, remembered: the dispatcher asks for every message it renders."""
    return tuple(variables_used(source))


def render(source: str, context: Context, *, max_chars: int = MAX_TEMPLATE_CHARS) -> str:
    """The text of ``source`` for ``context``; ``TemplateError`` with a readable message, also
    when it would grow past ``MAX_OUTPUT_CHARS`` (refused before it does)."""
    template = _compiled(source, max_chars)
    try:
        return sandbox.render(template, values(context, names_used(source)))
    except TemplateError:
        raise
    except (SecurityError, UndefinedError, TypeError, ValueError) as exc:
        raise TemplateError(
            _("The template could not be rendered: %(error)s") % {"error": exc}
        ) from None
