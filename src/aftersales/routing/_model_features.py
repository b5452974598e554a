"""What the trained classifier sees of a text: normalised character and word n-grams.

Pure Python, no numpy: training (through scikit-learn) and prediction (through our own
arithmetic) call the same :func:`ngrams`, so both see exactly the same features.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from aftersales.routing._t2s import translation

__all__ = ["MAX_TEXT", "fold_table", "ngrams", "normalise"]

MAX_TEXT = 2_000
"""Characters of a message the model reads: the opening says what it is about, and a
bound keeps a pasted log from costing milliseconds."""

# Runs of Chinese characters (with the compatibility block), of latin letters, of digits.
_RUNS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[a-z]+|[0-9]+")
_LATIN_GRAMS = (3, 4, 5)
"""Character n-grams of a padded English word: "<refund>" gives "<re", "ref", ...; they
carry "refunded", "refunding" and typos such as "refnd" to the same features."""
_CJK_GRAMS = (1, 2, 3)
"""Chinese words are mostly one to three characters long, and unsegmented."""


def normalise(text: str, fold: Mapping[int, str]) -> str:
    """Full width to half width (NFKC), lower case, traditional to simplified (``fold``)."""
    text = text[:MAX_TEXT]
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(fold)
    return text.lower()


def ngrams(clean: str) -> list[str]:
    """The features of normalised text, in text order, repeated as often as they occur.

    English: each word (``w:refund``), each pair of neighbouring words
    (``b:not received``), and the character n-grams of the padded word. Chinese: character
    unigrams to trigrams of each run. A run of digits is one feature (``#``): an order
    number says that a number was given, not which.
    """
    features: list[str] = []
    append = features.append
    previous = ""
    for run in _RUNS.findall(clean):
        first = run[0]
        if "a" <= first <= "z":
            append("w:" + run)
            if previous:
                append(f"b:{previous} {run}")
            previous = run
            padded = f"<{run}>"
            for size in _LATIN_GRAMS:
                for start in range(len(padded) - size + 1):
                    append(padded[start : start + size])
        elif first.isdigit():
            append("#")
            previous = ""
        else:
            previous = ""
            for size in _CJK_GRAMS:
                for start in range(len(run) - size + 1):
                    append(run[start : start + size])
    return features


def fold_table() -> dict[int, str]:
    """Traditional to simplified Chinese, one character for one: the rule classifier's
    table (generated from OpenCC's dictionaries, see :mod:`aftersales.routing._t2s`).

    The table is stored in the model file, so a loaded model folds text exactly as it did
    when it was trained, whatever table a later version ships.
    """
    return dict(translation())
