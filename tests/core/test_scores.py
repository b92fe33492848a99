"""Replies as scores: each accepted form reads as its score, anything unclear stays a reply."""

from __future__ import annotations

import pytest
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.core.scores import (
    CES,
    CSAT,
    MAX_LENGTH,
    NPS,
    NUMERALS,
    Scale,
    describe,
    parse_score,
    rating,
)

SCALES = [CSAT, NPS, CES, rating(3), rating(5), rating(10)]
CHINESE = {score: numeral for numeral, score in NUMERALS.items() if numeral not in "零两"}


def full_width(number: int) -> str:
    """``-12`` as ``－１２``: the ASCII forms shifted into the full-width block."""
    return "".join(chr(ord(char) + ord("０") - ord("0")) for char in str(number))


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5),
        ("1", 1),
        ("５", 5),
        (" 4 ", 4),
        ("3\n", 3),
        ("五", 5),
        ("一", 1),
        ("两", 2),
        ("5分", 5),
        ("4 分", 4),
        ("５分", 5),
        ("五分", 5),
        ("五星", 5),
        ("4颗星", 4),
        ("三 颗星", 3),
        ("五星好评", 5),
        ("5。", 5),
        ("5!!!", 5),
        ("5！", 5),
        ("5~", 5),
        ("5～", 5),
        ("“4”", 4),
        ("【5】", 5),
        ("(3)", 3),
        ("《五星》", 5),
        ("⑤", 5),
        ("5 很好", 5),
        ("5，谢谢", 5),
        ("5分，谢谢！", 5),
        ("5，很好，谢谢", 5),
        ("4 ok", 4),
        ("5 Thanks", 5),
        ("非常满意", 5),
        ("十分满意", 5),
        ("很满意", 5),
        ("特别满意", 5),
        ("满意", 4),
        ("比较满意", 4),
        ("满意！", 4),
        ("满意，谢谢", 4),
        ("一般", 3),
        ("还行", 3),
        ("还可以", 3),
        ("不满意", 2),
        ("不太满意", 2),
        ("非常不满意", 1),
        ("十分不满意", 1),
        ("很不满意", 1),
        ("特别不满意", 1),
        ("极不满意", 1),
    ],
)
def test_it_reads_csat_replies(text: str, score: int) -> None:
    assert parse_score(text, CSAT) == score


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("0", 0),
        ("〇", 0),
        ("零", 0),
        ("零分", 0),
        ("10", 10),
        ("１０", 10),
        ("十", 10),
        ("10分", 10),
        ("十分", 10),
        ("9，谢谢", 9),
        ("7 分", 7),
    ],
)
def test_it_reads_nps_replies(text: str, score: int) -> None:
    assert parse_score(text, NPS) == score


@pytest.mark.parametrize(("text", "score"), [("7", 7), ("七", 7), ("6分", 6), ("1", 1)])
def test_it_reads_ces_replies(text: str, score: int) -> None:
    assert parse_score(text, CES) == score


@pytest.mark.parametrize(
    ("text", "scale", "score"),
    [("3星", rating(3), 3), ("两颗星", rating(3), 2), ("十星", rating(10), 10)],
)
def test_it_reads_star_ratings(text: str, scale: Scale, score: int) -> None:
    assert parse_score(text, scale) == score


@pytest.mark.parametrize(
    ("text", "scale"),
    [
        pytest.param("6", CSAT, id="above-csat"),
        pytest.param("0", CSAT, id="zero-without-zero-on-scale"),
        pytest.param("零", CSAT, id="chinese-zero-without-zero-on-scale"),
        pytest.param("六", CSAT, id="chinese-above-csat"),
        pytest.param("10", CSAT, id="ten-on-csat"),
        pytest.param("11", NPS, id="above-nps"),
        pytest.param("100", NPS, id="hundred-on-nps"),
        pytest.param("8", CES, id="above-ces"),
        pytest.param("4", rating(3), id="above-stars"),
        pytest.param("3或4", CSAT, id="two-numbers-or"),
        pytest.param("4 5", CSAT, id="two-numbers-space"),
        pytest.param("4，5", CSAT, id="two-numbers-comma"),
        pytest.param("5/5", CSAT, id="fraction"),
        pytest.param("3-5", CSAT, id="range-dash"),
        pytest.param("3~5", CSAT, id="range-tilde"),
        pytest.param("3到5", CSAT, id="range-words"),
        pytest.param("三四", CSAT, id="two-numerals"),
        pytest.param("5月1日", CSAT, id="date-chinese"),
        pytest.param("2024-05-01", NPS, id="date-iso"),
        pytest.param("5/1", CSAT, id="date-slash"),
        pytest.param("13800138000", NPS, id="phone-number"),
        pytest.param("4.5", CSAT, id="decimal"),
        pytest.param(".5", CSAT, id="decimal-without-integer"),
        pytest.param(",5", CSAT, id="decimal-comma"),
        pytest.param("-1", NPS, id="negative"),
        pytest.param("－1", NPS, id="negative-full-width"),
        pytest.param("−1", NPS, id="negative-minus-sign"),
        pytest.param("5-", CSAT, id="trailing-dash"),
        pytest.param("05", CSAT, id="leading-zero"),
        pytest.param("0000", NPS, id="stop-word-0000"),
        pytest.param("我买了2件，质量很好", CSAT, id="text-containing-a-digit"),
        pytest.param("2件", CSAT, id="a-count"),
        pytest.param("5天", CSAT, id="days"),
        pytest.param("5 天", CSAT, id="days-spaced"),
        pytest.param("5分钟", CSAT, id="minutes"),
        pytest.param("5 不好", CSAT, id="contradicting-courtesy"),
        pytest.param("5 退订", CSAT, id="score-with-stop-word"),
        pytest.param("5 服务态度非常好谢谢", CSAT, id="courtesy-too-long"),
        pytest.param("5很好", CSAT, id="courtesy-without-separator"),
        pytest.param("谢谢，5", CSAT, id="courtesy-before-number"),
        pytest.param("TD", CSAT, id="stop-td"),
        pytest.param("ＴＤ", CSAT, id="stop-td-full-width"),
        pytest.param("退订", CSAT, id="stop-tuiding"),
        pytest.param("T", CSAT, id="stop-t"),
        pytest.param("N", NPS, id="stop-n"),
        pytest.param("STOP", CSAT, id="stop-stop"),
        pytest.param("", CSAT, id="empty"),
        pytest.param("   ", CSAT, id="blank"),
        pytest.param("。！", CSAT, id="punctuation-only"),
        pytest.param("好的", CSAT, id="courtesy-alone"),
        pytest.param("满意", NPS, id="satisfaction-word-on-nps"),
        pytest.param("不满意", rating(5), id="satisfaction-word-on-stars"),
        pytest.param("十分满意", NPS, id="very-satisfied-is-not-ten"),
        pytest.param("满意度", CSAT, id="satisfaction-noun"),
        pytest.param("一般般吧", CSAT, id="satisfaction-word-with-more"),
        pytest.param("5 非常满意", CSAT, id="score-then-satisfaction-word"),
        pytest.param("十一", NPS, id="chinese-eleven"),
        pytest.param("five", CSAT, id="english-word"),
        pytest.param("٥", CSAT, id="arabic-indic-digit"),
        pytest.param("5" + " " * MAX_LENGTH, CSAT, id="longer-than-limit-as-received"),
    ],
)
def test_it_leaves_unclear_replies_as_replies(text: str, scale: Scale) -> None:
    assert parse_score(text, scale) is None


def test_not_satisfied_is_never_read_as_satisfied() -> None:
    assert parse_score("不满意", CSAT) == 2
    assert parse_score("很不满意", CSAT) == 1
    assert parse_score("非常不满意", CSAT) == 1


@pytest.mark.parametrize(
    ("low", "high", "kind", "problem"),
    [
        (1, 5, "stars", "unknown scale kind 'stars'"),
        (2, 5, "rating", "not 2–5"),
        (1, 1, "rating", "not 1–1"),
        (1, 11, "rating", "at most 10"),
    ],
)
def test_a_wrong_scale_is_refused_with_a_clear_message(
    low: int, high: int, kind: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Scale(low, high, kind)  # type: ignore[arg-type]


def test_the_scales() -> None:
    assert (CSAT.low, CSAT.high, NPS.low, NPS.high, CES.low, CES.high) == (1, 5, 0, 10, 1, 7)
    assert rating(4) == Scale(1, 4, "rating")


def test_the_hint_is_in_the_customers_language() -> None:
    with translation.override("zh-hans"):
        assert describe(CSAT) == "回复 1–5 的数字，5 为非常满意"
        assert describe(NPS) == "回复 0–10 的数字，10 为非常愿意推荐"
        assert "1–7" in describe(CES)
        assert "1–3" in describe(rating(3))
    with translation.override("en"):
        assert describe(CSAT) == "Reply with a number from 1 to 5; 5 means very satisfied."


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SCALES), st.data())
def test_every_score_in_range_reads_in_every_form(scale: Scale, data: st.DataObject) -> None:
    score = data.draw(st.integers(scale.low, scale.high))
    assert parse_score(str(score), scale) == score
    assert parse_score(full_width(score), scale) == score
    assert parse_score(CHINESE[score], scale) == score


REPLY_CHARACTERS = st.sampled_from(
    list("0123456789０５一二三四五六七八九十两零〇分星颗好评满意不非常很一般还行谢 ，。.!-~或")
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(SCALES), st.text(REPLY_CHARACTERS, max_size=8) | st.text(max_size=8))
def test_a_score_is_always_within_the_scale(scale: Scale, text: str) -> None:
    score = parse_score(text, scale)
    assert score is None or scale.includes(score)


# A score drowned in padding: what a length limit applied after trimming would let through.
PADDED_SCORES = st.builds(
    "".join,
    st.tuples(
        st.text(st.sampled_from(" 。！~"), max_size=5),
        st.sampled_from(["5", "五星", "满意，谢谢", "１０"]),
        st.text(st.sampled_from(" 。！~\n"), min_size=MAX_LENGTH),
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(SCALES),
    st.text(REPLY_CHARACTERS, min_size=MAX_LENGTH + 1)
    | st.text(min_size=MAX_LENGTH + 1)
    | PADDED_SCORES,
)
def test_a_long_text_is_never_a_score(scale: Scale, text: str) -> None:
    assert parse_score(text, scale) is None


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SCALES), st.data())
def test_a_number_out_of_range_is_never_a_score(scale: Scale, data: st.DataObject) -> None:
    number = data.draw(st.integers(max_value=scale.low - 1) | st.integers(min_value=scale.high + 1))
    assert parse_score(str(number), scale) is None
    assert parse_score(full_width(number), scale) is None
    if number in CHINESE:
        assert parse_score(CHINESE[number], scale) is None
