"""The bounded sandbox on its own, without the message templates' allow-list: what it refuses
while a template runs, before any value grows past the limit, and how deep a template may nest.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.exceptions import UndefinedError

from huifang.core import sandbox
from huifang.core.sandbox import MAX_DEPTH, MAX_NESTING, Limits, TemplateError

ENVIRONMENT = sandbox.BoundedSandbox()


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def compiled(source: str) -> Any:
    return sandbox.compile_tree(ENVIRONMENT, sandbox.parse(ENVIRONMENT, source, max_chars=10_000))


def run(source: str, limits: Limits | None = None, **variables: Any) -> str:
    return sandbox.render(compiled(source), variables, limits)


def refused_quickly(source: str, says: str, **variables: Any) -> None:
    """Refused while rendering, naming the limit, having allocated under 1 MB (compiled first:
    Python's compiler is not what is measured). The clock only guards against a hang: doing the
    refused work would take many seconds; speed itself is measured in bench/."""
    template = compiled(source)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(TemplateError) as error:
            sandbox.render(template, variables)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert says in str(error.value)
    assert seconds < 1
    assert peak < 2**20


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'ab' * 100000000 }}",
        "{{ 100000000 * 'ab' }}",
        "{{ [1, 2, 3] * 100000000 }}",
        "{{ name|replace('', 'x' * 100)|replace('', 'y' * 100)|replace('', 'z' * 100) }}",
        "{{ 'abc'|replace('', 'x' * 1000)|replace('', 'y' * 1000) }}",
        "{{ (name ~ name ~ name ~ name ~ name ~ name) ~ (name ~ name ~ name ~ name ~ name) }}",
        "{{ name + name + name + name + name + name + name + name + name + name + name }}",
        "{{ name }}" * 20,
    ],
)
def test_a_value_is_refused_before_it_grows_past_the_limit(source: str) -> None:
    refused_quickly(source, "longer than 20,000 characters", name="长" * 2_000)


def test_loops_count_their_steps_even_when_they_write_nothing() -> None:
    silent = "{% for a in 'x' * 9000 %}{% for b in 'x' * 9000 %}{% endfor %}{% endfor %}"
    refused_quickly(silent, "more than 10,000 operations")
    loud = "{% for a in 'x' * 9000 %}{% for b in 'x' * 9000 %}{{ b }}{% endfor %}{% endfor %}"
    refused_quickly(loud, "more than 10,000 operations")


def test_work_on_the_way_to_a_short_text_is_limited() -> None:
    # Each step stays under the output limit, the result is short; the work is not.
    source = "{{ name|upper|lower|truncate(3) }}" * 30
    refused_quickly(source, "more than 200,000 characters on the way", name="a" * 10_000)


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{{ 9 ** 999999 }}", "number too large"),
        ("{{ (2 ** 64) ** 64 }}", "number too large"),
        ("{{ '%99999999s' % 'a' }}", "“%” formatting"),
    ],
)
def test_operators_that_would_explode_are_refused(source: str, says: str) -> None:
    refused_quickly(source, says)


@pytest.mark.parametrize("name", ["center", "format", "indent", "join", "wordwrap", "list"])
def test_filters_that_multiply_a_size_are_not_offered(name: str) -> None:
    with pytest.raises(TemplateError, match=f"No filter named '{name}'"):
        run(f"{{{{ 'a'|{name}(99999999) }}}}")


def test_constants_are_not_folded_while_compiling() -> None:
    # Jinja2 evaluates filters of constants when it compiles: a bomb before any render.
    source = "{{ 'ab'" + ("|replace('', '" + "x" * 100 + "')") * 4 + " }}"
    tracemalloc.start()
    try:
        template = compiled(source)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    with pytest.raises(TemplateError, match="longer than"):
        sandbox.render(template, {})


@pytest.mark.parametrize(
    "source",
    [
        "{{ " + "(" * 500 + "1" + ")" * 500 + " }}",
        "{{ " + "[" * 500 + "]" * 500 + " }}",
        "{% if 1 %}" * 100 + "x" + "{% endif %}" * 100,
        "{% for a in 'ab' %}" * 30 + "{% endfor %}" * 30,
    ],
)
def test_brackets_and_blocks_nested_too_deeply_are_refused_naming_the_limit(source: str) -> None:
    with pytest.raises(TemplateError, match=f"nested at most {MAX_NESTING} deep"):
        run(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ x" + "|trim" * 1_000 + " }}",
        "{{ x" + " and x" * 1_000 + " }}",
        "{{ " + "not " * 2_000 + "x }}",
        "{{ " + "-" * 5_000 + "1 }}",
    ],
)
def test_long_chains_are_refused_not_a_recursion_error(source: str) -> None:
    with pytest.raises(TemplateError, match="nested"):
        run(source)


def test_what_stays_within_the_limits_renders() -> None:
    assert run("{{ '%s-%s'|replace('%s', x) }}", x="a") == "a-a"
    assert run("{% for c in x %}{{ c|upper }}{% endfor %}", x="abc") == "ABC"
    assert run("{{ x ~ '!' }}{{ [x] * 2 }}", x="hi") == "hi!['hi', 'hi']"
    nested = "{% if x %}" * MAX_NESTING + "deep" + "{% endif %}" * MAX_NESTING
    assert run(nested, x=1) == "deep"
    assert run("{{ x" + "|trim" * (MAX_DEPTH - 5) + " }}", x=" y ") == "y"


def test_the_refusals_speak_chinese() -> None:
    with translation.override("zh-hans"), pytest.raises(TemplateError) as error:
        run("{{ 'ab' * 100000000 }}")
    assert "20,000" in str(error.value) and "字" in str(error.value)


# Filters as a person might chain them, with arguments that grow (or shrink) the text.
_pieces = st.sampled_from(["", "a", "ab", "长", "xyz" * 10, "长" * 50])
_filters = st.one_of(
    st.tuples(st.just("replace"), _pieces, _pieces).map(lambda f: f"replace({f[1]!r}, {f[2]!r})"),
    st.sampled_from(["upper", "lower", "title", "capitalize", "trim", "truncate(30)"]),
    _pieces.map(lambda text: f"default({text!r})"),
)


@settings(max_examples=150, deadline=None)
@given(
    value=st.text(max_size=300),
    chain=st.lists(_filters, min_size=1, max_size=12),
    repeat=st.integers(min_value=1, max_value=5),
)
def test_no_chain_of_filters_makes_a_value_over_the_limit(
    value: str, chain: list[str], repeat: int
) -> None:
    limits = Limits(output_chars=2_000, work_chars=20_000)
    source = ("{{ x|" + "|".join(chain) + " }}") * repeat
    template = compiled(source)
    tracemalloc.start()
    try:
        try:
            text = sandbox.render(template, {"x": value}, limits)
        except TemplateError:
            text = ""
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(text) <= limits.output_chars
    # No value of more than 2,000 characters was ever made (4 bytes each at most, 3 at once).
    assert peak < 200_000


# Templates of text and variables only take a short cut (the length of their text is known
# before it is made); they must write exactly what Jinja2 writes, and refuse the same.
_text = st.text(alphabet=st.sampled_from(list("ab 长\n\t{}%#-")), max_size=20).filter(
    lambda text: (
        not any(mark in text for mark in ("{{", "{%", "{#", "%}", "#}", "}}"))
        and not text.endswith("{")
    )
)
_variable = st.sampled_from(["x", "y", "ns.a", "ns.b", "self", "ns.items", "missing", "ns.c.d"])


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.one_of(_text, _variable.map(lambda name: "{{ " + name + " }}"))),
    x=st.one_of(st.text(max_size=30), st.integers(), st.none()),
    nested=st.booleans(),
)
def test_text_and_variables_render_as_jinja2_renders_them(
    pieces: list[str], x: Any, nested: bool
) -> None:
    source = "".join(pieces)
    variables = {"x": x, "y": "长" * 3, "ns": {"a": "A", "b": {"c": 1} if nested else "B"}}
    template = compiled(source)
    try:
        expected: str | None = str(template.render(variables))
    except UndefinedError:  # an attribute of a missing variable
        expected = None
    if expected is None:
        with pytest.raises(UndefinedError):
            sandbox.render(template, variables)
    else:
        assert sandbox.render(template, variables) == expected


def test_a_text_of_variables_over_the_limit_is_refused_before_it_is_joined() -> None:
    limits = Limits(output_chars=100)
    template = compiled("{{ x }}{{ x }}")
    assert sandbox.render(template, {"x": "长" * 50}, limits) == "长" * 100
    with pytest.raises(TemplateError, match="longer than 100 characters"):
        sandbox.render(template, {"x": "长" * 51}, limits)
