"""Knowledge-base articles, FAQ entries and tutorials: validated records with a status,
a language, a category, product tags and every earlier version kept (seeds S2, S3)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from aftersales._validation import NO_CONTROL_CHARACTERS
from aftersales.models import Instant, Record, new_id
from aftersales.models._base import Identifier, ShortText
from aftersales.routing import CATEGORIES

__all__ = [
    "MAX_PRODUCTS",
    "Article",
    "ArticleKind",
    "ArticleStatus",
    "ArticleVersion",
    "Language",
]

MAX_PRODUCTS = 100
"""Product tags one article may carry."""

Body = Annotated[str, Field(min_length=1, max_length=100_000, pattern=r"^[^\x00]*$")]
Step = Annotated[str, Field(min_length=1, max_length=2_000, pattern=r"^[^\x00]*$")]
ProductTag = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL_CHARACTERS)]


class ArticleKind(str, Enum):
    """What an entry is: a help article, a question with its answer, or a tutorial that
    trains the customer step by step."""

    ARTICLE = "article"
    FAQ = "faq"
    TUTORIAL = "tutorial"


class ArticleStatus(str, Enum):
    """Only published entries are suggested to customers."""

    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class Language(str, Enum):
    """The languages the search understands: Chinese (segmented) and English (stemmed)."""

    ZH = "zh"
    EN = "en"


class ArticleVersion(Record):
    """The content of an article as one edit left it."""

    version: Annotated[int, Field(ge=1)]
    title: ShortText
    body: Body
    steps: tuple[Step, ...] = ()
    editor: Identifier
    edited_at: Instant
    note: ShortText | None = None


class Article(Record):
    """One entry of the knowledge base, in its current version.

    For a FAQ entry ``title`` is the question and ``body`` the answer; a tutorial lists
    its ``steps`` in order. ``category`` is one of the classifier's categories
    (:data:`aftersales.routing.CATEGORIES`), so a suggestion can be filed like a ticket.
    ``products`` empty means the entry applies to every product. ``history`` holds the
    earlier versions, oldest first; ``version`` counts edits from 1. Change articles
    through :class:`~aftersales.knowledge.KnowledgeBase`, which keeps the history.
    """

    id: Identifier = Field(default_factory=new_id)
    kind: ArticleKind = ArticleKind.ARTICLE
    language: Language
    category: ShortText
    products: Annotated[tuple[ProductTag, ...], Field(max_length=MAX_PRODUCTS)] = ()
    status: ArticleStatus = ArticleStatus.DRAFT
    title: ShortText
    body: Body
    steps: Annotated[tuple[Step, ...], Field(max_length=100)] = ()
    version: Annotated[int, Field(ge=1)] = 1
    revision: Annotated[int, Field(ge=1)] = 1
    """Counts every stored change (edits and status changes): a write names the
    revision it read, so two editors cannot overwrite each other."""
    history: tuple[ArticleVersion, ...] = ()
    editor: Identifier
    """Who wrote the current version."""
    edit_note: ShortText | None = None
    """Why the current version was written, as its editor said."""
    edited_at: Instant
    """When the current version was written."""
    created_at: Instant
    updated_at: Instant
    """When anything last changed: an edit or the status."""
    published_at: Instant | None = None
    published_by: Identifier | None = None
    """Who last published it: for an entry proposed from tickets, the person who approved it."""

    @field_validator("category")
    @classmethod
    def _known_category(cls, category: str) -> str:
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")
        return category

    @field_validator("products")
    @classmethod
    def _distinct_products(cls, products: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(products)) != len(products):
            raise ValueError("names a product more than once")
        return products

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.steps and self.kind is not ArticleKind.TUTORIAL:
            raise ValueError("only a tutorial has steps")
        if [v.version for v in self.history] != list(range(1, self.version)):
            raise ValueError("history must hold versions 1 to version - 1, oldest first")
        if not self.created_at <= self.edited_at <= self.updated_at:
            raise ValueError("created_at, edited_at and updated_at must be in that order")
        return self

    @property
    def is_published(self) -> bool:
        """True when customers may be offered this entry."""
        return self.status is ArticleStatus.PUBLISHED

    def searchable_text(self) -> str:
        """What the search indexes: the title (twice: it says what the entry is about
        more densely than the body), the body and the steps."""
        return "\n".join((self.title, self.title, self.body, *self.steps))

    def as_version(self) -> ArticleVersion:
        """The current content as the version :attr:`history` keeps after the next edit."""
        return ArticleVersion(
            version=self.version,
            title=self.title,
            body=self.body,
            steps=self.steps,
            editor=self.editor,
            edited_at=self.edited_at,
            note=self.edit_note,
        )
