"""BM25 search over the published articles (``bm25s``), and suggestions that abstain.

A suggestion's ``confidence`` is its BM25 score divided by the most the query could
score: the sum of the inverse document frequencies of its distinct terms, counting a
term no article has at the highest weight. It is 0 when nothing matches and approaches
1 when an article holds every term of the query often; words the knowledge base has
never seen pull it down, so an unrelated message scores low even when one of its words
matches. :data:`DEFAULT_THRESHOLD` was calibrated on the fixtures in
``tests/data/kb/`` (see its README).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import Any

import attrs

from aftersales._validation import check_count
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.knowledge.articles import Article, Language
from aftersales.knowledge.tokens import Analyzer, require_search_packages

__all__ = ["DEFAULT_THRESHOLD", "ArticleIndex", "Suggestion"]

DEFAULT_THRESHOLD = 0.15
"""The least confidence a suggestion needs; below it :meth:`ArticleIndex.suggest` abstains.
Calibrated on the held-out half of the fixture queries (tests/data/kb/README.md)."""

_K1 = 1.5
_B = 0.75
_MASKS_KEPT = 64
_ANALYZER: list[Analyzer] = []


def _shared_analyzer() -> Analyzer:
    """One analyzer for the process: jieba loads its dictionary once."""
    if not _ANALYZER:
        _ANALYZER.append(Analyzer())
    return _ANALYZER[0]


@attrs.frozen
class Suggestion:
    """An article offered for a message, with how well it matches."""

    article: Article
    confidence: float
    """From 0 to 1: the share of the query's weight the article matches (see the module)."""
    score: float
    """The raw BM25 score (comparable only between articles for one query)."""


@attrs.frozen
class _Snapshot:
    """One build of the index; a search reads one snapshot from start to end, so a
    rebuild in another thread never mixes two builds."""

    order: tuple[Article, ...]
    vocabulary: dict[str, int]
    idf: Any
    unseen_idf: float
    retriever: Any
    masks: dict[tuple[Language | None, str | None], Any] = attrs.field(factory=dict)


class ArticleIndex:
    """The published articles, searchable. Drafts and archived articles are left out.

    :meth:`update` takes an article as it now is (published or not) and marks the index
    stale; the next search rebuilds it, re-segmenting only the articles that changed, so
    publishing many articles in a row costs one rebuild. Safe to share between threads.
    """

    def __init__(
        self, articles: Iterable[Article] = (), *, analyzer: Analyzer | None = None
    ) -> None:
        packages = require_search_packages()
        self._bm25s: Any = packages["bm25s"]
        self._np: Any = packages["numpy"]
        self._analyzer = analyzer or _shared_analyzer()
        self._published: dict[str, Article] = {}
        self._revisions: dict[str, int] = {}
        self._stale = True
        self._changes = threading.Lock()  # held briefly: the published set and staleness
        self._building = threading.Lock()  # one rebuild at a time: it owns the caches below
        self._terms: dict[str, tuple[int, list[int], Any]] = {}
        # The empty term: bm25s scores an article without terms by it.
        self._vocabulary: dict[str, int] = {"": 0}
        self._snapshot: _Snapshot | None = None
        for article in articles:
            self.update(article)

    def __len__(self) -> int:
        return len(self._published)

    def update(self, article: Article) -> None:
        """Take ``article`` as it now is: indexed when published, dropped otherwise. An
        older revision than one already taken is ignored (a slow reader's copy)."""
        with self._changes:
            if article.revision < self._revisions.get(article.id, 0):
                return
            self._revisions[article.id] = article.revision
            if article.is_published:
                self._published[article.id] = article
            else:
                self._published.pop(article.id, None)
            self._stale = True

    def suggest(
        self,
        message: str,
        *,
        language: Language | str | None = None,
        product: str | None = None,
        limit: int = 3,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> list[Suggestion]:
        """The published articles that best answer ``message``, best first, each with its
        confidence; empty (the index abstains) when none reaches ``threshold``.

        ``language`` keeps only articles in that language; ``product`` keeps the
        articles tagged with it and those for every product (no tags).
        """
        if not isinstance(message, str):
            raise InvalidInput("message", [FieldError(("message",), "must be a string")])
        limit = check_count("limit", limit, 100)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise InvalidInput("threshold", [FieldError(("threshold",), "must be a number")])
        if not 0 <= threshold <= 1:
            raise InvalidInput("threshold", [FieldError(("threshold",), "must be from 0 to 1")])
        wanted = _language(language)
        index = self._current()
        terms = set(self._analyzer.terms(message))
        known = [index.vocabulary[t] for t in terms if t in index.vocabulary]
        if not known or index.retriever is None:
            return []
        np = self._np
        mask = self._mask(index, wanted, product)
        scores = index.retriever.get_scores(known, weight_mask=mask)
        most = float(index.idf[known].sum()) + (len(terms) - len(known)) * index.unseen_idf
        floor = threshold * most
        count = min(limit, len(scores))
        best = np.argpartition(-scores, count - 1)[:count]
        ranked = sorted(best.tolist(), key=lambda i: (-scores[i], i))
        return [
            Suggestion(index.order[i], float(scores[i]) / most, float(scores[i]))
            for i in ranked
            if scores[i] > 0 and scores[i] >= floor
        ]

    def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and not self._stale:
            return snapshot
        with self._building:
            if self._snapshot is None or self._stale:
                with self._changes:
                    # An update from now on marks the index stale again.
                    order = tuple(self._published.values())
                    self._stale = False
                self._snapshot = self._build(order)
            return self._snapshot

    def _build(self, order: tuple[Article, ...]) -> _Snapshot:
        np = self._np
        for gone in self._terms.keys() - {article.id for article in order}:
            del self._terms[gone]
        documents = [self._term_ids(article) for article in order]
        vocabulary = dict(self._vocabulary)  # the next build may add terms to the cache's
        if not order:
            return _Snapshot(order, {}, None, 0.0, None)
        retriever = self._bm25s.BM25(k1=_K1, b=_B, method="lucene")
        retriever.index(([ids for ids, _ in documents], vocabulary), show_progress=False)
        frequency = np.bincount(
            np.concatenate([distinct for _, distinct in documents]), minlength=len(vocabulary)
        )
        count = len(order)
        return _Snapshot(
            order,
            vocabulary,
            np.log1p((count - frequency + 0.5) / (frequency + 0.5)),
            math.log1p((count + 0.5) / 0.5),
            retriever,
        )

    def _term_ids(self, article: Article) -> tuple[list[int], Any]:
        """The article's terms as ids (and its distinct ids), segmented once per version.

        Ids stay the same for the life of the index, so an unchanged article is not
        looked at again; a term whose articles are all gone keeps its id and counts as
        a term no article has."""
        cached = self._terms.get(article.id)
        if cached is None or cached[0] != article.version:
            vocabulary = self._vocabulary
            ids = [
                vocabulary.setdefault(term, len(vocabulary))
                for term in self._analyzer.terms(article.searchable_text())
            ]
            cached = self._terms[article.id] = (
                article.version,
                ids,
                self._np.unique(self._np.asarray(ids, dtype=self._np.int64)),
            )
        return cached[1], cached[2]

    def _mask(self, index: _Snapshot, language: Language | None, product: str | None) -> Any:
        if language is None and product is None:
            return None
        key = (language, product)
        masks = index.masks
        mask = masks.get(key)
        if mask is None:
            if len(masks) >= _MASKS_KEPT:
                masks.clear()  # many products asked for: keep memory bounded
            mask = masks[key] = self._np.array(
                [
                    (language is None or a.language is language)
                    and (product is None or not a.products or product in a.products)
                    for a in index.order
                ],
                dtype=self._np.float32,
            )
        return mask


def _language(language: Language | str | None) -> Language | None:
    if language is None or isinstance(language, Language):
        return language
    try:
        return Language(language)
    except ValueError:
        known = ", ".join(repr(item.value) for item in Language)
        problem = f"unknown language {language!r}; known: {known}"
        raise InvalidInput("language", [FieldError(("language",), problem)]) from None
