"""Finding keywords in normalised text, at word boundaries, with where each occurs.

Four kinds of term: a *word* matches a whole latin word and its regular inflections
("refund" matches "refunds", not "refunder"); a *stem* matches the start of a latin word
("refun" matches "refundable"); a *phrase* matches consecutive whole words, the last one
inflected ("credit card" matches "credit cards", not "credit cardigan"); a *zh* term
matches a run of characters anywhere (Chinese has no spaces; compounds that contain a term
but mean something else are excluded by the caller, see ``ClassifierRules.not_within``).
"""

from __future__ import annotations

import enum

from aftersales.routing._text import has_cjk, inflections, normalise, words


class Kind(enum.Enum):
    WORD = "word"
    STEM = "stem"
    PHRASE = "phrase"
    ZH = "zh"


def kind_of(term: str) -> Kind:
    """How a term written without a kind (``unless``, ``needs``, severity signals) matches:
    Chinese characters as a run of characters, several words as a phrase, else a word."""
    if has_cjk(term) or not words(term):
        return Kind.ZH
    return Kind.PHRASE if len(words(term)) > 1 else Kind.WORD


Match = tuple[int, int, int]
"""Term number ``term`` occurs at ``start:end`` of the normalised text: (start, end, term)."""


_REMEMBERED = 50_000
"""Distinct words whose terms a lexicon remembers (a few megabytes at most)."""


class Lexicon:
    """Terms compiled for lookup: a message is scanned once, whatever the number of terms."""

    def __init__(self) -> None:
        self._ids: dict[tuple[Kind, str], int] = {}
        self._known: dict[str, tuple[int, ...]] = {}  # word -> its word and stem terms
        self._kinds: list[Kind] = []
        self._words: dict[str, list[int]] = {}
        self._stems: dict[str, list[int]] = {}
        self._stem_lengths: list[int] = []
        self._phrases: dict[str, list[tuple[tuple[str, ...], frozenset[str], int]]] = {}
        # Chinese terms by their first character: the one-character terms, and the longer
        # ones by their first two characters as (term, number, length). One pass over the
        # text, one dictionary lookup a character (the length kept saves a len() a look).
        self._zh_at: dict[str, tuple[list[int], dict[str, list[tuple[str, int, int]]]]] = {}
        self._zh_plain: list[tuple[str, int]] = []  # no Chinese in them: "12315"

    def add(self, term: str, kind: Kind | None = None) -> int:
        """The number of ``term`` (added if new), matched as ``kind`` (see :func:`kind_of`)."""
        kind = kind or kind_of(term)
        key = normalise(term).strip()
        if kind is not Kind.ZH:
            key = " ".join(words(key))
            if kind is Kind.PHRASE and " " not in key:
                kind = Kind.WORD
            if not key:  # punctuation only: match it as characters
                kind, key = Kind.ZH, normalise(term)
        known = self._ids.get((kind, key))
        if known is not None:
            return known
        number = self._ids[kind, key] = len(self._ids)
        self._known.clear()
        self._kinds.append(kind)
        if kind is Kind.WORD:
            for form in inflections(key):
                self._words.setdefault(form, []).append(number)
        elif kind is Kind.STEM:
            self._stems.setdefault(key, []).append(number)
            self._stem_lengths = sorted({len(stem) for stem in self._stems}, reverse=True)
        elif kind is Kind.PHRASE:
            first, *middle, last = key.split()
            self._phrases.setdefault(first, []).append((tuple(middle), inflections(last), number))
        elif has_cjk(key) and len(key) == 1:
            self._zh_at.setdefault(key, ([], {}))[0].append(number)
        elif has_cjk(key):
            starting = self._zh_at.setdefault(key[0], ([], {}))[1]
            starting.setdefault(key[:2], []).append((key, number, len(key)))
        else:
            self._zh_plain.append((key, number))
        return number

    def _terms_of(self, word: str) -> tuple[int, ...]:
        """The word and stem terms that ``word`` matches, remembered: most of a message's
        words were in earlier messages, and one lookup is cheaper than trying every stem."""
        numbers = list(self._words.get(word, ()))
        for length in self._stem_lengths:
            numbers.extend(self._stems.get(word[:length], ()) if length <= len(word) else ())
        found = tuple(numbers)
        if len(self._known) < _REMEMBERED:
            self._known[word] = found
        return found

    def kind(self, number: int) -> Kind:
        """How term ``number`` matches."""
        return self._kinds[number]

    def find(self, text: str, spans: list[tuple[str, int, int]]) -> list[Match]:
        """Every occurrence of every term in normalised ``text`` whose latin words (with
        their positions) are ``spans``."""
        found: list[Match] = []
        known, phrases = self._known, self._phrases
        for index, (word, start, end) in enumerate(spans):
            numbers = known.get(word)
            if numbers is None:
                numbers = self._terms_of(word)
            for number in numbers:
                found.append((start, end, number))
            if word not in phrases:
                continue
            for middle, lasts, number in phrases[word]:
                stop = index + len(middle) + 1
                if (
                    stop < len(spans)
                    and spans[stop][0] in lasts
                    and all(spans[index + 1 + i][0] == part for i, part in enumerate(middle))
                ):
                    found.append((start, spans[stop][2], number))
        for key, number in self._zh_plain:
            at = text.find(key)
            while at >= 0:
                found.append((at, at + len(key), number))
                at = text.find(key, at + 1)
        if not text.isascii():
            append = found.append
            for at, terms in enumerate(map(self._zh_at.get, text)):
                if terms is None:
                    continue
                single, starting = terms
                for number in single:  # loops: cheaper than extend() with a generator
                    append((at, at + 1, number))
                if starting:
                    for key, number, length in starting.get(text[at : at + 2], ()):
                        if length == 2 or text.startswith(key, at):
                            append((at, at + length, number))
        return found
