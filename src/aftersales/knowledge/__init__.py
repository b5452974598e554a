"""The knowledge base and self-service (seeds S2, S3, S11): articles, FAQ entries and
tutorials in Chinese and English with their history; BM25 suggestions that abstain when
unsure (the ``kb`` extra: ``pip install "aftersales[kb]"``); the bot that offers an
article on a ticket and resolves it as self-served or hands it to a person; the
deflection rate; FAQ entries proposed from resolved tickets.

The records, the stores and the self-service flow import without the extra; the search
imports ``bm25s``, ``jieba`` and ``PyStemmer`` when it is first used.
"""

from aftersales.knowledge.articles import (
    Article,
    ArticleKind,
    ArticleStatus,
    ArticleVersion,
    Language,
)
from aftersales.knowledge.base import KnowledgeBase
from aftersales.knowledge.faq import FaqCandidate, faq_candidates
from aftersales.knowledge.search import DEFAULT_THRESHOLD, ArticleIndex, Suggestion
from aftersales.knowledge.selfservice import (
    SELF_SERVED_PREFIX,
    Deflection,
    Offer,
    SelfService,
    is_self_served,
)
from aftersales.knowledge.store import ArticleStore, MemoryArticleStore, SQLiteArticleStore

__all__ = [
    "DEFAULT_THRESHOLD",
    "SELF_SERVED_PREFIX",
    "Article",
    "ArticleIndex",
    "ArticleKind",
    "ArticleStatus",
    "ArticleStore",
    "ArticleVersion",
    "Deflection",
    "FaqCandidate",
    "KnowledgeBase",
    "Language",
    "MemoryArticleStore",
    "Offer",
    "SQLiteArticleStore",
    "SelfService",
    "Suggestion",
    "faq_candidates",
    "is_self_served",
]
