"""Text normalisation for matching: width, case, traditional characters, words, clauses."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from aftersales.routing._t2s import translation

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
"""A latin word; "doesn't" and "customer's" are one word each."""
_CLAUSE_BREAK = re.compile(r"[,.;:!?。、\n]")
"""What ends a clause after NFKC (which turns the full-width ，！？；： into , ! ? ; :)."""
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_APOSTROPHES = {ord("\u2019"): "'", ord("\u2018"): "'"}
_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]")


def normalise(text: str) -> str:
    """Full-width to half-width (NFKC), lower case, one apostrophe, traditional Chinese
    characters to simplified ones (OpenCC's table, see :mod:`aftersales.routing._t2s`)."""
    if not text.isascii():
        # One translation does what most messages need (full-width forms, curly
        # apostrophes, traditional characters); NFKC only for what it leaves.
        text = text.translate(_to_plain() if _BEYOND_BMP.search(text) else _plain_bmp())
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text).translate(_to_plain())
    return text.lower()


@cache
def _to_plain() -> dict[int, str]:
    full_width = {code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}
    return {**translation(), **full_width, 0x3000: " ", **_APOSTROPHES}


@cache
def _plain_bmp() -> list[int | str]:
    """``_to_plain`` as a list indexed by code point, for the Basic Multilingual Plane.
    str.translate then finds every character without the KeyError a dict raises for each
    one it leaves alone (most of them): less than half the cost, for about 2 MB. Text with
    characters beyond the plane (Extension B has traditional ones) uses the dict."""
    table: list[int | str] = list(range(0x10000))
    for code, plain in _to_plain().items():
        if code < len(table):
            table[code] = ord(plain) if len(plain) == 1 else plain
    return table


def words(text: str) -> list[str]:
    """The latin words of normalised text."""
    return _WORD.findall(text)


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """The latin words of normalised text with where each starts and ends."""
    spans = []
    at, find = 0, text.find
    for word in _WORD.findall(text):  # cheaper than a match object per word
        at = find(word, at)  # between two words there is nothing a word could start with
        spans.append((word, at, at + len(word)))
        at += len(word)
    return spans


def clause_break_in(text: str, start: int, stop: int) -> bool:
    """Whether a clause of normalised text ends (at punctuation) in ``start:stop``."""
    return _CLAUSE_BREAK.search(text, start, stop) is not None


def has_cjk(text: str) -> bool:
    """Whether the text contains Chinese characters."""
    return _CJK.search(text) is not None


def inflections(word: str) -> frozenset[str]:
    """``word`` and its regular English inflections (plural, past, -ing): "refund" gives
    "refunds", "refunded", "refunding"; "ship" gives "shipped"; "reply" gives "replied".
    Never a different word: "charge" does not give "charger", nor "fee" "feed"."""
    forms = {word, word + "s", word + "es", word + "ed", word + "ing"}
    if word.endswith("e") and not word.endswith("ee"):
        forms |= {word + "d", word[:-1] + "ing"}
    if len(word) > 2 and word.endswith("y") and word[-2] not in "aeiou":
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    if (
        len(word) >= 3
        and word[-1] not in "aeiouwxy"
        and word[-2] in "aeiou"
        and word[-3] not in "aeiou"
    ):
        forms |= {word + word[-1] + "ed", word + word[-1] + "ing"}
    return frozenset(forms)
