"""Templates people write, rendered with the work bounded before and while they run.

Message templates and task scripts are Jinja2 in a ``SandboxedEnvironment`` (DESIGN.md
invariant 7). The sandbox keeps Python objects out of reach; it does not bound the work: a
few hundred bytes chaining ``replace`` filters grow a value a hundredfold per filter, and a few
hundred nested brackets exhaust Python's stack (invariant 10). So here, for every template:

- **before parsing**, the source's length, and how deep brackets and blocks nest (read from the
  lexer's tokens, which is not recursive), are limited; after parsing, the depth of the tree
  (filters chained, ``and`` / ``or`` chained); Python's own recursion and nesting limits, hit
  anyway, are the same clear refusal;
- **while rendering**, a budget (``Budget``) is charged as the template runs: every value a
  filter, a concatenation or an operator is about to make is checked *before* it is made
  (``replace`` computes the size of its result first), so no value, and not the output,
  exceeds ``Limits.output_chars``; the characters made in all, the operations (each value,
  each output piece, each loop step) and the time are limited too; the output is produced
  piece by piece (``generate``) and counted as it comes. A template of text and variables
  only (``_Flat``) makes no value on the way: its length is summed from its variables first,
  and the text joined only when within the limit;
- the filters that multiply a size without a cap in Jinja2 (``center``, ``format``, ``indent``,
  ``join``, ``wordwrap`` …) are not offered at all; ``*``, ``+``, ``%`` and ``**`` go through
  ``call_binop``, where texts and lists are measured before they are multiplied or joined.

``estimate`` gives, when a template is saved, an upper bound of the text it can make, so a
template that would expand past the limit is refused then, not only when it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import closing
from contextvars import ContextVar
from dataclasses import dataclass
from functools import update_wrapper
from typing import Any

from django.utils.translation import gettext as _
from jinja2 import Template, TemplateSyntaxError, nodes
from jinja2.runtime import Context as JinjaContext
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_OUTPUT_CHARS = 20_000  # the text a template makes, and any value on the way
MAX_WORK_CHARS = 200_000  # every value made on the way, together
MAX_OPERATIONS = 10_000  # values made, output pieces, loop steps
MAX_RENDER_SECONDS = 0.5
MAX_NESTING = 10  # brackets within brackets, blocks within blocks
MAX_DEPTH = 50  # of the parsed tree: filters chained, conditions within conditions
MAX_SCRIPT_CHARS = 5_000  # a task's script (talking points), as written
MAX_POWER_BITS = 4_096

# The filters a bounded environment offers: none makes a value much larger than its inputs,
# except ``replace``, which measures its result before making it.
FILTERS = ("default", "upper", "lower", "title", "capitalize", "trim", "truncate", "replace")
_BLOCKS = frozenset(
    {"if", "for", "macro", "call", "filter", "with", "block", "autoescape", "trans", "raw"}
)


class TemplateError(ValueError):
    """A template that cannot be saved or rendered; the message is for the person who wrote it."""


@dataclass(frozen=True)
class Limits:
    output_chars: int = MAX_OUTPUT_CHARS
    work_chars: int = MAX_WORK_CHARS
    operations: int = MAX_OPERATIONS
    seconds: float = MAX_RENDER_SECONDS


def too_large(limit: int) -> TemplateError:
    return TemplateError(
        _(
            "The template would make a text longer than %(limit)s characters, the limit; "
            "it was stopped before doing so."
        )
        % {"limit": f"{limit:,}"}
    )


class Budget:
    """What one rendering may still spend; charged as it runs."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.work = 0
        self.operations = 0
        self.written = 0
        self.deadline = time.perf_counter() + limits.seconds

    def make(self, size: int) -> None:
        """A value of ``size`` characters is about to be made."""
        if size > self.limits.output_chars:
            raise too_large(self.limits.output_chars)
        self.work += size
        if self.work > self.limits.work_chars:
            raise TemplateError(
                _(
                    "The template makes more than %(limit)s characters on the way to its text, "
                    "the limit; simplify it."
                )
                % {"limit": f"{self.limits.work_chars:,}"}
            )
        self.step()

    def step(self) -> None:
        self.operations += 1
        if self.operations > self.limits.operations:
            raise TemplateError(
                _("The template needs more than %(limit)s operations, the limit; simplify it.")
                % {"limit": f"{self.limits.operations:,}"}
            )
        if time.perf_counter() > self.deadline:
            raise TemplateError(
                _("The template took longer than %(limit)s seconds to render, the limit.")
                % {"limit": self.limits.seconds}
            )

    def write(self, size: int) -> None:
        """``size`` more characters of output."""
        self.written += size
        if self.written > self.limits.output_chars:
            raise too_large(self.limits.output_chars)
        self.step()


_budget: ContextVar[Budget | None] = ContextVar("huifang_template_budget", default=None)


_DEFAULT_LIMITS = Limits()
_MISSING = object()


@dataclass(frozen=True, slots=True)
class _Flat:
    """A template that only writes text and variables — no filter, condition, loop or operator,
    as most message templates are: the length of its text is known from its variables' before
    anything is made, so it is checked first and the text joined at once (a third of the time
    of the budgeted path, which the dispatcher pays for every message)."""

    pieces: tuple[str | tuple[str, ...], ...]  # text as written, or a variable's path

    @classmethod
    def of(cls, environment: SandboxedEnvironment, tree: nodes.Template) -> _Flat | None:
        if environment.autoescape or environment.finalize is not None:
            return None
        pieces: list[str | tuple[str, ...]] = []
        for output in tree.body:
            if not isinstance(output, nodes.Output):
                return None
            for node in output.nodes:
                if isinstance(node, nodes.TemplateData):
                    pieces.append(node.data)
                elif (path := _variable_path(node)) is not None:
                    pieces.append(path)
                else:
                    return None
        return cls(tuple(pieces))

    def texts(self, variables: Mapping[str, Any]) -> list[str] | None:
        """The pieces of the text, or ``None`` when a variable is missing or not plain text
        (then the budgeted path renders it, and says what is wrong)."""
        texts: list[str] = []
        for piece in self.pieces:
            if type(piece) is str:
                texts.append(piece)
                continue
            value: Any = variables.get(piece[0], _MISSING)
            for name in piece[1:]:
                # What the sandbox's attribute lookup finds in a plain dict of values.
                if type(value) is not dict or hasattr(dict, name):
                    return None
                value = value.get(name, _MISSING)
            if type(value) is not str:
                return None
            texts.append(value)
        return texts


def _variable_path(node: nodes.Node) -> tuple[str, ...] | None:
    """``("customer", "name")`` for ``customer.name``; ``None`` for anything but a variable."""
    names: list[str] = []
    while isinstance(node, nodes.Getattr):
        names.append(node.attr)
        node = node.node
    if not isinstance(node, nodes.Name) or node.ctx != "load" or node.name in _JINJA_NAMES:
        return None
    return (node.name, *reversed(names))


# Names Jinja2 itself gives a meaning inside a template, whatever the variables say.
_JINJA_NAMES = frozenset({"self", "loop", "super", "caller", "varargs", "kwargs"})


class _Unbudgeted(Exception):
    """A bounded filter called outside ``render``: when Jinja2 folds constants while compiling.
    Jinja2 then leaves the call to run time, where the budget is."""


def _current() -> Budget:
    budget = _budget.get()
    if budget is None:
        raise _Unbudgeted
    return budget


def _input(value: Any, budget: Budget) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > budget.limits.output_chars:
        raise too_large(budget.limits.output_chars)
    return text


def _bounded(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a filter whose result is at most a few times its inputs' size) with its
    text inputs checked before and its result charged after."""

    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = _current()
        for value in (*args, *kwargs.values()):
            if isinstance(value, str):
                _input(value, budget)
        result = function(*args, **kwargs)
        budget.make(len(result) if isinstance(result, str) else 1)
        return result

    return update_wrapper(bounded, function)  # keeps Jinja2's pass_environment marks


def _replace(value: Any, old: Any, new: Any, count: int | None = None) -> str:
    budget = _current()
    text, old, new = _input(value, budget), _input(old, budget), _input(new, budget)
    times = len(text) + 1 if old == "" else text.count(old)
    if count is not None and int(count) >= 0:  # a negative count replaces all, as in Python
        times = min(times, int(count))
    budget.make(len(text) + times * (len(new) - len(old)))
    return text.replace(old, new, times)


def _concat(values: Iterable[Any]) -> str:
    budget = _current()
    texts = [_input(value, budget) for value in values]
    budget.make(sum(len(text) for text in texts))
    return "".join(texts)


def _steps(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _current()  # here, not in the generator: constant folding must fail now

    def counted() -> Iterator[Any]:
        for item in iterable:
            budget.step()
            yield item

    return counted()


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


class BoundedTemplate(Template):
    """A compiled template, and its short cut when it is text and variables only."""

    flat: _Flat | None = None


class BoundedSandbox(SandboxedEnvironment):
    """A sandbox whose templates spend a ``Budget``: read them with ``parse``, compile them
    with ``compile_tree`` and render them with ``render``."""

    template_class = BoundedTemplate
    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self, **options: Any) -> None:
        options.setdefault("autoescape", False)
        options.setdefault("cache_size", 0)
        super().__init__(**options)
        self.globals.clear()  # no range(), lipsum(), cycler …
        builtin = self.filters
        self.filters = {name: _bounded(builtin[name]) for name in FILTERS if name != "replace"}
        self.filters |= {"replace": _replace, "_concat": _concat, "_steps": _steps}
        self.tests = {name: self.tests[name] for name in ("defined", "undefined", "none")}

    def call_binop(self, context: JinjaContext, operator: str, left: Any, right: Any) -> Any:
        budget = _current()
        if operator == "%" and isinstance(left, str):
            raise TemplateError(
                _("“%(operator)s” formatting of text is not allowed in a template.")
                % {"operator": "%"}
            )
        if operator == "**":
            _check_power(left, right)
        sizes = (_size(left), _size(right))
        if operator == "*":
            for size, times in ((sizes[0], right), (sizes[1], left)):
                if size is not None and isinstance(times, int):
                    budget.make(size * max(times, 0))
        if operator == "+" and sizes[0] is not None and sizes[1] is not None:
            budget.make(sizes[0] + sizes[1])
        budget.step()
        try:
            return super().call_binop(context, operator, left, right)
        except ArithmeticError as exc:  # a float overflowing, a modulo by zero
            raise TemplateError(
                _("The template could not compute “%(operator)s”: %(error)s")
                % {"operator": operator, "error": exc}
            ) from None


def _check_power(base: Any, exponent: Any) -> None:
    # An integer power grows by the exponent times the base's bits; a float one overflows.
    if isinstance(base, int) and isinstance(exponent, int):
        if base.bit_length() * abs(exponent) <= MAX_POWER_BITS:
            return
    elif isinstance(base, int | float) and isinstance(exponent, int | float):
        return
    raise TemplateError(_("The template would make a number too large to handle."))


class _Bound(NodeTransformer):
    """Concatenations and loop steps through the budget (Jinja2 compiles them inline)."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, "_concat", [], [], None, None, lineno=node.lineno)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_steps", [], [], None, None, lineno=node.lineno)
        return node


# -- reading a template -----------------------------------------------------------------------


def _too_deep(line: int, limit: int) -> TemplateError:
    return TemplateError(
        _("Line %(line)s: brackets and blocks may be nested at most %(limit)s deep.")
        % {"line": line, "limit": limit}
    )


def _check_nesting(environment: SandboxedEnvironment, source: str) -> None:
    """Brackets and blocks, counted on the lexer's tokens (the parser is recursive: 100 nested
    brackets exhaust Python's stack before it says anything)."""
    brackets = blocks = 0
    opening = False
    for line, kind, value in environment.lex(source):
        if kind == "whitespace":
            continue
        if kind == "operator" and value in "([{":
            brackets += 1
            if brackets > MAX_NESTING:
                raise _too_deep(line, MAX_NESTING)
        elif kind == "operator" and value in ")]}":
            brackets -= 1
        elif kind == "name" and opening:
            if value.startswith("end"):
                blocks = max(blocks - 1, 0)
            elif value in _BLOCKS:
                blocks += 1
                if blocks > MAX_NESTING:
                    raise _too_deep(line, MAX_NESTING)
        opening = kind == "block_begin"


def _check_depth(tree: nodes.Node) -> None:
    """The tree's depth, walked without recursion (the compiler and our checks recurse)."""
    stack: list[tuple[nodes.Node, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TemplateError(
                _(
                    "Line %(line)s: filters, conditions and operators may be nested at most "
                    "%(limit)s deep."
                )
                % {"line": node.lineno, "limit": MAX_DEPTH}
            )
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())


def _nested_too_deeply() -> TemplateError:
    return TemplateError(
        _("The template is nested too deeply to be read (at most %(limit)s levels).")
        % {"limit": MAX_NESTING}
    )


def parse(environment: SandboxedEnvironment, source: str, *, max_chars: int) -> nodes.Template:
    """``source``'s tree, or ``TemplateError``: too long, nested too deeply, or not Jinja2."""
    if len(source) > max_chars:
        raise TemplateError(
            _("A template may be at most %(limit)s characters long.") % {"limit": max_chars}
        )
    try:
        _check_nesting(environment, source)
        tree = environment.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            _("Line %(line)s: %(error)s") % {"line": exc.lineno, "error": exc.message}
        ) from None
    except RecursionError:  # a nesting the token count does not see (``not not not …``)
        raise _nested_too_deeply() from None
    _check_depth(tree)
    return tree


def compile_tree(environment: BoundedSandbox, tree: nodes.Template) -> BoundedTemplate:
    """The template for a checked tree, its concatenations and loops charged to the budget."""
    flat = _Flat.of(environment, tree)
    bounded = _Bound().visit(tree)
    bounded.set_environment(environment)
    try:
        template = environment.from_string(bounded)
        assert isinstance(template, BoundedTemplate)
    except TemplateSyntaxError as exc:  # an unknown filter or test
        raise TemplateError(
            _("Line %(line)s: %(error)s") % {"line": exc.lineno, "error": exc.message}
        ) from None
    except (RecursionError, SyntaxError):  # Python's own limits (indentation, parentheses)
        raise _nested_too_deeply() from None
    template.flat = flat
    return template


_PLAIN = BoundedSandbox()


def check_source(source: str, *, max_chars: int) -> None:
    """Length, nesting and syntax of a template, without knowing its variables: for layers
    below the one that renders it (a rule document's task script)."""
    compile_tree(_PLAIN, parse(_PLAIN, source, max_chars=max_chars))


def render(
    template: BoundedTemplate, variables: Mapping[str, Any], limits: Limits | None = None
) -> str:
    """``template``'s text for ``variables``, produced piece by piece within ``limits``."""
    limits = limits or _DEFAULT_LIMITS
    texts = template.flat.texts(variables) if template.flat is not None else None
    if texts is not None and len(texts) <= limits.operations:
        if sum(len(text) for text in texts) > limits.output_chars:
            raise too_large(limits.output_chars)
        return "".join(texts)
    budget = Budget(limits)
    token = _budget.set(budget)
    pieces: list[str] = []
    try:
        # A generator (Jinja2 types it as an iterator): closed, however the loop ends.
        generated: Generator[str, None, None] = template.generate(variables)  # type: ignore[assignment]
        with closing(generated):
            for piece in generated:
                budget.write(len(piece))
                pieces.append(piece)
    finally:
        _budget.reset(token)
    return "".join(pieces)


# -- an upper bound, when a template is saved -----------------------------------------------


def estimate(node: nodes.Node, variable_chars: int) -> int:
    """An upper bound of the characters ``node`` makes when each variable holds at most
    ``variable_chars``, for the statements and filters of ``FILTERS`` (a change of case
    counted as keeping the length); every branch of an ``if`` counts, as any may be taken."""
    size = _estimators.get(type(node))
    if size is not None:
        return size(node, variable_chars)
    return sum(estimate(child, variable_chars) for child in node.iter_child_nodes())


def _filter_size(node: nodes.Filter, chars: int) -> int:
    subject = estimate(node.node, chars) if node.node is not None else 0
    args = list(node.args) + [kw.value for kw in node.kwargs]
    if node.name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        fixed = old.value if isinstance(old, nodes.Const) and isinstance(old.value, str) else ""
        times = subject // len(fixed) if fixed else subject + 1
        return subject + times * max(estimate(new, chars) - len(fixed), 0)
    return subject + sum(estimate(arg, chars) for arg in args)


_estimators: dict[type[nodes.Node], Callable[[Any, int], int]] = {
    nodes.TemplateData: lambda node, _chars: len(node.data),
    nodes.Const: lambda node, _chars: len(str(node.value)),
    nodes.Name: lambda _node, chars: chars,
    nodes.Getattr: lambda _node, chars: chars,
    nodes.Filter: _filter_size,
    nodes.CondExpr: lambda node, chars: max(
        estimate(node.expr1, chars), estimate(node.expr2, chars) if node.expr2 else 0
    ),
    nodes.And: lambda node, chars: max(estimate(node.left, chars), estimate(node.right, chars)),
    nodes.Or: lambda node, chars: max(estimate(node.left, chars), estimate(node.right, chars)),
    nodes.Not: lambda _node, _chars: 5,  # True / False
    nodes.Compare: lambda _node, _chars: 5,
    nodes.Test: lambda _node, _chars: 5,
    nodes.List: lambda node, chars: 2 + sum(estimate(i, chars) + 4 for i in node.items),
    nodes.Tuple: lambda node, chars: 2 + sum(estimate(i, chars) + 4 for i in node.items),
    nodes.If: lambda node, chars: sum(
        estimate(child, chars) for child in (*node.body, *node.elif_, *node.else_)
    ),
}
