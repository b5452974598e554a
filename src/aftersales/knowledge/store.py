"""Where the knowledge base keeps its articles: the :class:`ArticleStore` protocol, an
in-memory store (the default) and one on a SQLite file.

A store knows records, not search: the knowledge base rebuilds its index from
:meth:`ArticleStore.all` when it starts and after each change it makes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from os import PathLike
from typing import Protocol, runtime_checkable

from aftersales.exceptions import ConcurrencyError, FieldError, InvalidInput, StorageError
from aftersales.knowledge.articles import Article
from aftersales.storage._sqlite.connection import _create_file as create_file

__all__ = ["ArticleStore", "MemoryArticleStore", "SQLiteArticleStore"]


@runtime_checkable
class ArticleStore(Protocol):
    """The few methods a knowledge base needs of its storage."""

    def get(self, article_id: str) -> Article | None:
        """The article with this id, or None."""
        ...

    def put(self, article: Article, expected_revision: int) -> None:
        """Store ``article`` if the stored one has ``expected_revision`` (0: none is
        stored yet); otherwise raise :class:`~aftersales.ConcurrencyError` and store
        nothing."""
        ...

    def all(self) -> Iterator[Article]:
        """Every stored article, in the order they were first stored."""
        ...

    def close(self) -> None:
        """Release what the store holds open."""
        ...


def _label(article_id: str) -> str:
    return f"article {article_id!r}"


class MemoryArticleStore:
    """Articles in a dict: for tests, demos and knowledge bases loaded at start-up."""

    def __init__(self) -> None:
        self._articles: dict[str, Article] = {}
        self._lock = threading.Lock()

    def get(self, article_id: str) -> Article | None:
        return self._articles.get(article_id)

    def put(self, article: Article, expected_revision: int) -> None:
        with self._lock:
            stored = self._articles.get(article.id)
            actual = 0 if stored is None else stored.revision
            if actual != expected_revision:
                raise ConcurrencyError(
                    article.id, expected_revision, actual or None, label=_label(article.id)
                )
            self._articles[article.id] = article

    def all(self) -> Iterator[Article]:
        return iter(list(self._articles.values()))

    def close(self) -> None:
        """Nothing to release."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_articles (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    stamp INTEGER NOT NULL,
    record TEXT NOT NULL
)
"""


_INSERT = "INSERT OR IGNORE INTO kb_articles (id, stamp, record) VALUES (?, ?, ?)"
_UPDATE = "UPDATE kb_articles SET stamp = ?, record = ? WHERE id = ? AND stamp = ?"


class SQLiteArticleStore:
    """Articles on a SQLite file (created on first use), one JSON record per row.

    The version check is inside the UPDATE, so two knowledge bases on one file cannot
    overwrite each other's edits. It may share a file with a desk's
    :class:`~aftersales.SQLiteStore`: its one table is ``kb_articles``. A new file is
    created with ``file_mode`` (default ``0o600``, as the desk's store creates its own:
    the file may hold the desk's customer data too).
    """

    def __init__(
        self, path: str | PathLike[str] = "aftersales.db", *, file_mode: int = 0o600
    ) -> None:
        if isinstance(file_mode, bool) or not isinstance(file_mode, int) or file_mode & ~0o777:
            raise InvalidInput(
                "SQLiteArticleStore",
                [FieldError(("file_mode",), "must be permission bits, such as 0o600 or 0o640")],
            )
        try:
            name = os.fspath(path)
            if name not in ("", ":memory:") and not name.startswith("file:"):
                create_file(name, file_mode)
            self._connection = sqlite3.connect(name, check_same_thread=False)
            with self._connection:
                self._connection.execute(_SCHEMA)
        except (sqlite3.Error, OSError, TypeError, ValueError) as error:
            raise StorageError(f"cannot open the article store at {path!s}: {error}") from None
        self._lock = threading.Lock()

    def get(self, article_id: str) -> Article | None:
        rows = self._query("SELECT record FROM kb_articles WHERE id = ?", (article_id,))
        return self._decode(rows[0][0]) if rows else None

    def put(self, article: Article, expected_revision: int) -> None:
        record = article.model_dump_json()
        with self._lock:
            try:
                with self._connection:
                    if expected_revision == 0:
                        written = self._connection.execute(
                            _INSERT,
                            (article.id, article.revision, record),
                        ).rowcount
                    else:
                        written = self._connection.execute(
                            _UPDATE,
                            (article.revision, record, article.id, expected_revision),
                        ).rowcount
            except sqlite3.Error as error:
                raise StorageError(f"cannot store {_label(article.id)}: {error}") from None
        if written != 1:
            stored = self.get(article.id)
            actual = None if stored is None else stored.revision
            raise ConcurrencyError(article.id, expected_revision, actual, label=_label(article.id))

    def all(self) -> Iterator[Article]:
        rows = self._query("SELECT record FROM kb_articles ORDER BY position", ())
        return (self._decode(record) for (record,) in rows)

    def close(self) -> None:
        self._connection.close()

    def _query(self, sql: str, parameters: tuple[str, ...]) -> list[tuple[str]]:
        try:
            with self._lock:
                return self._connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise StorageError(f"cannot read the article store: {error}") from None

    @staticmethod
    def _decode(record: str) -> Article:
        try:
            return Article.model_validate_json(record)
        except ValueError as error:
            problem = f"the article store holds a record it cannot read: {error}"
            raise StorageError(problem) from None
