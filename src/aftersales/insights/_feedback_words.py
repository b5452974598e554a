"""The keywords of a feedback text, in English and Chinese, for
:func:`aftersales.insights.feedback_topics.feedback_topics`.

Text is normalised as the rule classifier normalises it (full width to half width, lower
case, traditional characters to simplified). English words are the latin runs, a plural
``-s`` dropped ("couriers" counts as "courier"); Chinese runs are segmented with ``jieba``
when it is installed (it comes with the ``kb`` extra), else cut into overlapping character
pairs (电池不耐用 gives 电池, 耐用: a pair holding a function character such as 不 or 了 is
dropped). Stop words, single Chinese characters and bare digits are left out.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from typing import Literal

from aftersales.routing._text import normalise

__all__ = [
    "Segmentation",
    "Segmenter",
    "keywords",
    "normalised_reason",
    "script_of",
    "segmenter",
]

Segmentation = Literal["jieba", "bigrams"]
"""How Chinese was cut into words: by jieba's dictionary, or into character pairs."""

Segmenter = Callable[[str], list[str]]
"""Cuts a run of Chinese characters into words."""

_RUNS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[a-z0-9]+(?:'[a-z]+)?")
"""Runs of Chinese characters, and latin words ("doesn't" is one)."""
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

# Words that say nothing about what the feedback is about: function words, politeness,
# bare yes and no (a return visit's "yes" to "Is it working?") and intensifiers.
_ENGLISH_STOP_TEXT = """
    a about after again all also am an and any are as at back be been before being but by
    can could did didn't do does doesn't doing don't done even ever for from get got had
    has have having he her here him his how i i'm i've if in into is isn't it it's its
    just me more most much my no not now of off ok okay on once one only or other our out
    over please quite really should so some still such than that the their them then there
    these they this those to too two under up us very was wasn't we were what when where
    which while who why will with won't would yes yet you your hi hello thanks thank
    bit lot always never again sure yeah nope"""
_CHINESE_STOP_TEXT = """
    的 了 吗 呢 吧 啊 呀 哦 嗯 我 我们 你 你们 您 他 她 它 他们 是 是的 在 有 和 与 就
    都 也 还 要 想 请 请问 这 那 这个 那个 个 把 被 给 让 着 过 么 一下 一个 已经 可以
    没有 不是 好的 对 对的 非常 特别 比较 有点 还是 但是 而且 然后 因为 所以 就是 真的
    感觉 觉得 谢谢 你好 麻烦 我要 我想"""
_ENGLISH_STOP_WORDS = frozenset(_ENGLISH_STOP_TEXT.split())
_CHINESE_STOP_WORDS = frozenset(_CHINESE_STOP_TEXT.split())
_STOP_CHARACTERS = frozenset(
    "的了吗呢吧啊呀哦嗯我你您他她它是在有和与就都也还很太不没这那个把被给让着过么又再"
)
"""Characters that make a character pair a non-word (池不, 慢了, 还没)."""
_PLURAL_KEPT = ("ss", "us", "is", "ous", "es")
"""Endings whose ``-s`` is not a plural's (glass, status, analysis) or stands for more than
a plural (boxes, replies): those words are kept as written."""


def segmenter() -> tuple[Segmenter, Segmentation]:
    """jieba's segmentation when jieba is installed (imported on first use: it loads its
    dictionary once per process), else the character pairs."""
    try:
        # by name: jieba ships no type information
        jieba = importlib.import_module("jieba")
    except ImportError:
        return character_pairs, "bigrams"
    jieba.setLogLevel(logging.WARNING)  # jieba announces its dictionary on stderr
    cut: Segmenter = jieba.lcut
    return cut, "jieba"


def character_pairs(run: str) -> list[str]:
    """The overlapping pairs of a Chinese run, without those holding a stop character."""
    return [
        run[i : i + 2]
        for i in range(len(run) - 1)
        if run[i] not in _STOP_CHARACTERS and run[i + 1] not in _STOP_CHARACTERS
    ]


def script_of(text: str) -> Literal["zh", "en"]:
    """``"zh"`` for text holding Chinese characters, else ``"en"``."""
    return "zh" if _CJK.search(text) else "en"


def _english(word: str) -> str | None:
    # a negated auxiliary ("hasn't", "couldn't") says how, not what about
    if word in _ENGLISH_STOP_WORDS or word.endswith("n't") or word.isdigit() or len(word) < 2:
        return None
    if len(word) > 3 and word.endswith("s") and not word.endswith(_PLURAL_KEPT):
        return word[:-1]
    return word


def keywords(text: str, segment: Segmenter, limit: int) -> tuple[str, ...]:
    """Up to ``limit`` keywords of ``text``, in the order they first occur.

    >>> keywords("The couriers were late, very late!", character_pairs, 5)
    ('courier', 'late')
    >>> keywords("My refund hasn't shown up", character_pairs, 5)
    ('refund', 'shown')
    >>> keywords("电池不耐用", character_pairs, 5)
    ('电池', '耐用')
    """
    found: dict[str, None] = {}
    for run in _RUNS.findall(normalise(text)):
        if run[0] >= "\u3400":
            words = [
                word
                for word in segment(run)
                if len(word) > 1 and word not in _CHINESE_STOP_WORDS and _CJK.match(word)
            ]
        else:
            word = _english(run)
            words = [] if word is None else [word]
        for word in words:
            found[word] = None
            if len(found) >= limit:
                return tuple(found)
    return tuple(found)


_PUNCTUATION = re.compile(r"[^\w\u3400-\u9fff]+")


def normalised_reason(text: str) -> str:
    """A reason as it is counted: normalised (width, case, traditional characters), its
    punctuation and extra spaces dropped ("Late delivery!" and "late  delivery" are one).

    >>> normalised_reason("  Late   Delivery!! ")
    'late delivery'
    >>> normalised_reason("送貨太慢。")
    '送货太慢'
    """
    return " ".join(_PUNCTUATION.sub(" ", normalise(text)).split())
