"""Words for the search: Chinese segmented with jieba, English stemmed with PyStemmer.

Both come with the ``kb`` extra and are imported on first use, so the records and the
self-service flow work without it.
"""

from __future__ import annotations

import importlib
import logging
import re
import unicodedata
from typing import Any

from aftersales.routing._t2s import translation

__all__ = ["MISSING_EXTRA", "Analyzer", "has_cjk", "normalise", "require_search_packages"]

MISSING_EXTRA = 'the knowledge-base search needs the kb extra: pip install "aftersales[kb]"'

_PACKAGES = ("bm25s", "jieba", "numpy", "Stemmer")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

# Runs of Chinese characters, and of latin letters and digits (model numbers, "30 days").
_RUNS = re.compile(r"[\u3400-\u9fff]+|[a-z0-9]+")

# Words that say nothing about the problem: they would match every article equally and
# pull an unrelated query's confidence up.
_ENGLISH_STOP_TEXT = """
    a about after again all am an and any are as at be been before being but by can
    could did do does doing done for from get got had has have having he her here him his
    how i if in into is it its just me more most my no not now of on once only or other
    our out over please should so some such than that the their them then there these they
    this those to too under up us very was we were what when where which while who why
    will with would you your hi hello thanks thank"""
_CHINESE_STOP_TEXT = """
    的 了 吗 呢 吧 啊 呀 哦 我 我们 你 你们 您 他 她 它 是 在 有 和 与 就 都
    也 还 要 想 请 请问
    怎么 怎么办 怎样 如何 什么 为什么 哪里 一下 可以 能 能否 可不可以 这 那 这个 那个 个 把 被 给 让
    着 过 吗 么 嗯 好 谢谢 你好 麻烦 一个 已经"""
_ENGLISH_STOP_WORDS = frozenset(_ENGLISH_STOP_TEXT.split())
_CHINESE_STOP_WORDS = frozenset(_CHINESE_STOP_TEXT.split())


def require_search_packages() -> dict[str, Any]:
    """The kb extra's modules (jieba, Stemmer, bm25s, numpy), imported now; ImportError
    naming the extra when one is missing."""
    try:
        # By name: these packages ship no type information.
        return {name: importlib.import_module(name) for name in _PACKAGES}
    except ImportError as error:
        raise ImportError(MISSING_EXTRA) from error


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds Chinese characters (then it is taken as Chinese)."""
    return _CJK.search(text) is not None


def normalise(text: str) -> str:
    """Full width to half width (NFKC), lower case, traditional characters to simplified
    (the rule classifier's table, generated from OpenCC's dictionaries)."""
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    if not text.isascii():
        text = text.translate(translation())
    return text


class Analyzer:
    """Turns text in Chinese, English or both into search terms.

    Text is normalised first (full width to half width, lower case, common traditional
    characters to simplified); Chinese runs are segmented for search (``今天退货`` gives
    ``今天``, ``退货``), English words lose their endings (``refunds``, ``refunded`` give
    ``refund``); stop words are dropped from both.
    """

    def __init__(self) -> None:
        packages = require_search_packages()
        jieba = packages["jieba"]
        jieba.setLogLevel(logging.WARNING)  # jieba announces its dictionary on stderr
        jieba.initialize()
        self._segment = jieba.lcut_for_search
        self._stem = packages["Stemmer"].Stemmer("english").stemWords

    def terms(self, text: str) -> list[str]:
        """The search terms of ``text``, in order, repeats kept (term frequency counts)."""
        chinese: list[str] = []
        english: list[str] = []
        for run in _RUNS.findall(normalise(text)):
            if run[0] >= "\u3400":
                chinese.extend(
                    word for word in self._segment(run) if word not in _CHINESE_STOP_WORDS
                )
            elif run not in _ENGLISH_STOP_WORDS:
                english.append(run)
        stems: list[str] = self._stem(english)
        return chinese + stems
