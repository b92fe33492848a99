"""Replies as scores: the score a customer's short reply means, or ``None``.

A message that asks "reply 1–5" gets answers such as ``5``, ``５``, ``五星``, ``4 分``,
``满意`` or ``5，谢谢``. Reading one of them as a score sends the customer down the rule's
score branch (a low score opens a call task), so a misread costs more than a miss: a reply
that is not clearly one score stays an ordinary reply, which staff read on the timeline.
Hence this parser accepts a short, closed set of forms and refuses everything else.

The parser is pure (no database, no settings): whoever knows which question a message asked
passes its ``Scale`` and stores the result.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

Kind = Literal["csat", "nps", "ces", "rating"]

# A score reply is short; a longer text that merely contains a digit ("我买了2件，质量很好") is
# a reply. Counted on the text as received, before any trimming.
MAX_LENGTH = 20

# The most stars a rating question offers; 10 keeps every score within the numerals below.
MAX_STARS = 10

NUMERALS = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}

# "满意" words, CSAT only. A word must open the reply (it is never looked for inside it), so
# 不满意 is never read as 满意; tried longest first, so a longer word wins over its own start;
# 十分满意 ("entirely satisfied") is a word, never 10 分.
SATISFACTION = {
    "非常满意": 5,
    "十分满意": 5,
    "很满意": 5,
    "特别满意": 5,
    "满意": 4,
    "比较满意": 4,
    "一般": 3,
    "还行": 3,
    "还可以": 3,
    "不满意": 2,
    "不太满意": 2,
    "非常不满意": 1,
    "十分不满意": 1,
    "很不满意": 1,
    "特别不满意": 1,
    "极不满意": 1,
}

# What may follow a score after a space or punctuation mark: one or two of these, at most
# COURTESY_LENGTH characters together. A closed list, because an open one would read
# "5 天" (five days), "5 不好" or "5 退订" as a score.
COURTESIES = frozenset(
    {
        "谢谢",
        "谢谢你",
        "谢谢您",
        "多谢",
        "感谢",
        "好",
        "好的",
        "很好",
        "挺好",
        "非常好",
        "不错",
        "很不错",
        "挺不错",
        "棒",
        "很棒",
        "赞",
        "好评",
        "辛苦了",
        "ok",
        "good",
        "great",
        "thanks",
        "thx",
    }
)
COURTESY_LENGTH = 6

# "~" after NFKC (～), and the wave dash 〜, which Unicode files as a dash: "5~" is "5".
TILDES = "~〜"

_DIGITS = re.compile(r"[0-9]+")
# 分, 星, 颗星, optionally with 好评 (五星好评), after optional spaces: "5分", "五星", "4 分".
_UNIT = re.compile(r"\s*(?:颗星|星|分)(?:好评)?")
_HEADS = sorted(SATISFACTION, key=len, reverse=True)


@dataclass(frozen=True)
class Scale:
    """The scores a question accepts, ``low`` to ``high`` inclusive."""

    low: int
    high: int
    kind: Kind

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown scale kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.low not in (0, 1) or not self.low < self.high <= MAX_STARS:
            raise ValueError(
                f"a scale runs from 0 or 1 up to at most {MAX_STARS}, not {self.low}–{self.high}"
            )

    def includes(self, score: int) -> bool:
        return self.low <= score <= self.high


KINDS: tuple[Kind, ...] = ("csat", "nps", "ces", "rating")

CSAT = Scale(1, 5, "csat")
NPS = Scale(0, 10, "nps")
CES = Scale(1, 7, "ces")


def rating(stars: int) -> Scale:
    """A star rating, 1 to ``stars`` (2 to 10)."""
    return Scale(1, stars, "rating")


def parse_score(text: str, scale: Scale) -> int | None:
    """The score ``text`` means on ``scale``, or ``None`` when it is not clearly one.

    Accepted, after NFKC normalisation (full-width digits, letters and spaces become ASCII)
    and trimming spaces and punctuation around the reply (。，,.!！?？~～ quotes, brackets;
    never a leading dash, dot or comma, which would turn ``-1`` or ``.5`` into a score):

    - a number in the scale's range: ASCII digits without a leading zero (``5``, ``10``,
      ``0``), or one Chinese numeral 〇/零, 一 … 十, 两 (2);
    - that number followed by a unit: ``分``, ``星``, ``颗星``, optionally ``好评``
      (``5分``, ``4 分``, ``五星``, ``五星好评``);
    - on CSAT only, a satisfaction word (see ``SATISFACTION``): 非常满意 5 … 不满意 2 … 1;
    - any of these followed by a space or punctuation mark and a courtesy (one or two words
      of ``COURTESIES``, together at most 6 characters): ``5 很好``, ``5，谢谢``,
      ``满意，谢谢``.

    Everything else is ``None``: out of range, two numbers (``3或4``, ``4 5``), ranges,
    dates, phone numbers, decimals, negative numbers, any other text after the score, texts
    longer than ``MAX_LENGTH`` as received, stop words (退订, TD …) and empty text.
    """
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        return None
    reply = _trimmed(unicodedata.normalize("NFKC", text))
    found = _head(reply, scale)
    if found is None:
        return None
    score, rest = found
    if not scale.includes(score) or not _is_courtesy(rest):
        return None
    return score


def _head(reply: str, scale: Scale) -> tuple[int, str] | None:
    """The score at the start of ``reply`` and what follows it, or ``None``."""
    if scale.kind == "csat":
        for word in _HEADS:
            if reply.startswith(word):
                return SATISFACTION[word], reply[len(word) :]
    if digits := _DIGITS.match(reply):
        number = digits.group()
        if len(number) > 1 and number.startswith("0"):
            return None
        score, rest = int(number), reply[digits.end() :]
    elif reply[:1] in NUMERALS:
        score, rest = NUMERALS[reply[0]], reply[1:]
    else:
        return None
    if unit := _UNIT.match(rest):
        rest = rest[unit.end() :]
    return score, rest


def _is_courtesy(rest: str) -> bool:
    """Nothing, or a separator then one or two courtesies ("5，很好，谢谢")."""
    if not rest:
        return True
    if not _is_separator(rest[0]):
        return False
    words = "".join(char for char in rest if not _is_separator(char)).lower()
    if not 0 < len(words) <= COURTESY_LENGTH:
        return False
    return words in COURTESIES or any(
        words[:cut] in COURTESIES and words[cut:] in COURTESIES for cut in range(1, len(words))
    )


def _is_separator(char: str) -> bool:
    return char.isspace() or char in TILDES or unicodedata.category(char).startswith("P")


def _trimmed(reply: str) -> str:
    """Without spaces and punctuation around it. A dash stays on either side and a dot or
    comma in front, so ``-1``, ``5-``, ``.5`` or ``,5`` is not mistaken for a score."""
    end = len(reply)
    while end and _is_separator(reply[end - 1]) and not _is_dash(reply[end - 1]):
        end -= 1
    start = 0
    while start < end and _is_separator(reply[start]) and not _keeps(reply[start]):
        start += 1
    return reply[start:end]


def _is_dash(char: str) -> bool:
    return char not in TILDES and unicodedata.category(char) == "Pd"


def _keeps(char: str) -> bool:
    return char in ".," or _is_dash(char)


HINTS: dict[Kind, Promise] = {
    "csat": gettext_lazy(
        "Reply with a number from %(low)s to %(high)s; %(high)s means very satisfied."
    ),
    "nps": gettext_lazy(
        "Reply with a number from %(low)s to %(high)s; %(high)s means very likely to recommend."
    ),
    "ces": gettext_lazy(
        "Reply with a number from %(low)s to %(high)s; %(high)s means it was very easy."
    ),
    "rating": gettext_lazy("Reply with a number from %(low)s to %(high)s; %(high)s is the best."),
}


def describe(scale: Scale) -> str:
    """A one-line hint, in the active language, of what the customer may reply."""
    return str(HINTS[scale.kind]) % {"low": scale.low, "high": scale.high}
