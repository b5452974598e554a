"""The knowledge base: write, revise, publish and archive entries, and suggest the
published ones for a customer's message."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aftersales._validation import check_text
from aftersales.clock import Clock, SystemClock
from aftersales.exceptions import (
    ConcurrencyError,
    FieldError,
    InvalidInput,
    NotFound,
    TriggerNotAllowed,
)
from aftersales.knowledge.articles import Article, ArticleKind, ArticleStatus, Language
from aftersales.knowledge.store import ArticleStore, MemoryArticleStore

if TYPE_CHECKING:
    from aftersales.knowledge.search import ArticleIndex, Suggestion

__all__ = ["KnowledgeBase"]

# What each status command does: the statuses it leaves from and the one it reaches.
_MOVES: dict[str, tuple[tuple[ArticleStatus, ...], ArticleStatus]] = {
    "publish": ((ArticleStatus.DRAFT, ArticleStatus.ARCHIVED), ArticleStatus.PUBLISHED),
    "archive": ((ArticleStatus.DRAFT, ArticleStatus.PUBLISHED), ArticleStatus.ARCHIVED),
}
_EDITABLE = ("title", "body", "steps", "category", "products")


class KnowledgeBase:
    """Articles, FAQ entries and tutorials, in Chinese and English, with their history.

    >>> from aftersales.knowledge import KnowledgeBase
    >>> kb = KnowledgeBase()
    >>> draft = kb.write(
    ...     language="en", category="return_refund", editor="li.wei",
    ...     title="How long do refunds take?",
    ...     body="Refunds reach your card within 5 working days of our receiving the return.",
    ... )
    >>> draft.status.value, kb.publish(draft.id, by="li.wei").status.value
    ('draft', 'published')

    Every change is validated first (bad input raises :class:`~aftersales.InvalidInput`
    and stores nothing) and names the revision it read, so two editors cannot overwrite
    each other (:class:`~aftersales.ConcurrencyError`). Only published entries are
    suggested (:meth:`suggest`, which needs the ``kb`` extra).
    """

    def __init__(self, store: ArticleStore | None = None, *, clock: Clock | None = None) -> None:
        self.store: ArticleStore = MemoryArticleStore() if store is None else store
        self.clock: Clock = SystemClock() if clock is None else clock
        self._index: ArticleIndex | None = None
        self._index_lock = threading.Lock()

    # ------------------------------------------------------------------ reading

    def get(self, article_id: str) -> Article:
        """The article with this id; :class:`~aftersales.NotFound` when there is none."""
        article = self.store.get(article_id) if isinstance(article_id, str) else None
        if article is None:
            raise NotFound(f"no article {article_id!r}")
        return article

    def find(
        self,
        *,
        status: ArticleStatus | str | None = None,
        kind: ArticleKind | str | None = None,
        language: Language | str | None = None,
        category: str | None = None,
        product: str | None = None,
    ) -> list[Article]:
        """The articles matching every filter given, in the order they were written.
        ``product`` matches the articles tagged with it and those for every product."""
        wanted_status = None if status is None else _choice(ArticleStatus, status, "status")
        wanted_kind = None if kind is None else _choice(ArticleKind, kind, "kind")
        wanted_language = None if language is None else _choice(Language, language, "language")
        return [
            article
            for article in self.store.all()
            if (wanted_status is None or article.status is wanted_status)
            and (wanted_kind is None or article.kind is wanted_kind)
            and (wanted_language is None or article.language is wanted_language)
            and (category is None or article.category == category)
            and (product is None or not article.products or product in article.products)
        ]

    def __iter__(self) -> Iterator[Article]:
        return self.store.all()

    # ------------------------------------------------------------------ writing

    def write(
        self,
        *,
        language: Language | str,
        category: str,
        title: str,
        body: str,
        editor: str,
        kind: ArticleKind | str = ArticleKind.ARTICLE,
        products: Sequence[str] = (),
        steps: Sequence[str] = (),
        note: str | None = None,
        article_id: str | None = None,
    ) -> Article:
        """Store a new draft (version 1) and return it."""
        now = self._now()
        fields: dict[str, Any] = {
            "kind": kind,
            "language": language,
            "category": category,
            "products": tuple(products) if isinstance(products, (list, tuple)) else products,
            "title": title,
            "body": body,
            "steps": tuple(steps) if isinstance(steps, (list, tuple)) else steps,
            "editor": editor,
            "edit_note": note,
            "edited_at": now,
            "created_at": now,
            "updated_at": now,
        }
        if article_id is not None:
            fields["id"] = article_id
        article = Article(**fields)
        self.store.put(article, 0)
        return article

    def add(self, article: Article) -> Article:
        """Store an article built elsewhere (an import, an approved FAQ candidate) as it
        is, and return it."""
        if not isinstance(article, Article):
            raise InvalidInput("article", [FieldError(("article",), "must be an Article")])
        self.store.put(article, 0)
        self._changed(article)
        return article

    def approve(self, draft: Article, *, by: str) -> Article:
        """Publish a proposed draft (such as a :class:`~aftersales.knowledge.FaqCandidate`'s),
        storing it first when it is not stored yet; ``by``, the person who approved it,
        is its publisher."""
        check_text("by", by)
        if not isinstance(draft, Article) or self.store.get(draft.id) is None:
            self.add(draft)
        return self.publish(draft.id, by=by)

    def revise(
        self,
        article_id: str,
        *,
        editor: str,
        note: str | None = None,
        expected_revision: int | None = None,
        **changes: Any,
    ) -> Article:
        """Write a new version: the current one moves to ``history``. ``changes`` are any
        of ``title``, ``body``, ``steps``, ``category``, ``products``. A published
        article stays published and is suggested in its new version at once."""
        unknown = sorted(set(changes) - set(_EDITABLE))
        if unknown or not changes:
            message = f"unknown fields {', '.join(unknown)}" if unknown else "nothing to change"
            editable = ", ".join(_EDITABLE)
            raise InvalidInput(
                "revision", [FieldError(("changes",), f"{message}; editable: {editable}")]
            )
        article = self._read(article_id, expected_revision)
        now = self._now()
        for name in ("steps", "products"):
            if isinstance(changes.get(name), list):
                changes[name] = tuple(changes[name])
        revised = _rebuilt(
            article,
            **changes,
            version=article.version + 1,
            revision=article.revision + 1,
            history=(*article.history, article.as_version()),
            editor=editor,
            edit_note=note,
            edited_at=now,
            updated_at=now,
        )
        return self._put(revised, article)

    def publish(self, article_id: str, *, by: str, expected_revision: int | None = None) -> Article:
        """Make the article visible to customers (from draft or archived)."""
        return self._move("publish", article_id, by, expected_revision)

    def archive(self, article_id: str, *, by: str, expected_revision: int | None = None) -> Article:
        """Stop suggesting the article; its history is kept."""
        return self._move("archive", article_id, by, expected_revision)

    # ------------------------------------------------------------------ search

    def refresh(self) -> None:
        """Read every article from the store again, for changes another process made in a
        shared store (this knowledge base's own changes are searched at once). Only the
        articles whose version changed are segmented again."""
        if self._index is not None:
            for article in self.store.all():
                self._index.update(article)

    @property
    def index(self) -> ArticleIndex:
        """The search index of the published articles, built on first use (``kb`` extra)
        and kept up to date with this knowledge base's changes (see :meth:`refresh`)."""
        index = self._index
        if index is None:
            from aftersales.knowledge.search import ArticleIndex

            with self._index_lock:
                index = self._index
                if index is None:
                    # published first, filled after: a change made meanwhile by another
                    # thread reaches the index through _changed, and the older copy read
                    # here does not undo it (the index keeps the newest revision)
                    index = self._index = ArticleIndex()
                    for article in self.store.all():
                        index.update(article)
        return index

    def suggest(
        self,
        message: str,
        *,
        language: Language | str | None = None,
        product: str | None = None,
        limit: int = 3,
        threshold: float | None = None,
    ) -> list[Suggestion]:
        """The published articles that best answer ``message``, best first, with their
        confidence; empty when none is confident enough (see
        :meth:`~aftersales.knowledge.ArticleIndex.suggest`)."""
        if threshold is None:
            from aftersales.knowledge.search import DEFAULT_THRESHOLD

            threshold = DEFAULT_THRESHOLD
        return self.index.suggest(
            message, language=language, product=product, limit=limit, threshold=threshold
        )

    # ------------------------------------------------------------------ internals

    def _now(self) -> datetime:
        return self.clock.now()

    def _read(self, article_id: str, expected_revision: int | None) -> Article:
        article = self.get(article_id)
        if expected_revision is not None and expected_revision != article.revision:
            raise ConcurrencyError(
                article.id, expected_revision, article.revision, label=f"article {article.id!r}"
            )
        return article

    def _move(
        self, command: str, article_id: str, by: str, expected_revision: int | None
    ) -> Article:
        check_text("by", by)
        article = self._read(article_id, expected_revision)
        sources, target = _MOVES[command]
        if article.status not in sources:  # a refused change names the article and both statuses
            raise TriggerNotAllowed(
                subject_id=article.id,
                trigger=command,
                state=article.status.value,
                allowed=[name for name, (f, _) in _MOVES.items() if article.status in f],
                label=f"article {article.id!r}",
            )
        now = self._now()
        updates: dict[str, Any] = {
            "status": target,
            "updated_at": now,
            "revision": article.revision + 1,
        }
        if target is ArticleStatus.PUBLISHED:
            updates |= {"published_at": now, "published_by": by}
        return self._put(_rebuilt(article, **updates), article)

    def _put(self, changed: Article, read: Article) -> Article:
        self.store.put(changed, read.revision)
        self._changed(changed)
        return changed

    def _changed(self, article: Article) -> None:
        if self._index is not None:
            self._index.update(article)


def _rebuilt(article: Article, **updates: Any) -> Article:
    """``article`` with ``updates``, validated as a whole (model_copy would not check)."""
    return Article(**{**article.model_dump(exclude_defaults=False), **updates})


def _choice(kind: type[Any], value: object, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(repr(item.value) for item in kind)
        raise InvalidInput(
            name, [FieldError((name,), f"unknown {name} {value!r}; known: {known}")]
        ) from None
