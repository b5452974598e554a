"""The bilingual fixture articles and queries of tests/data/kb/, loaded for the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aftersales.knowledge import KnowledgeBase

DATA = Path(__file__).parent.parent / "data" / "kb"


def fixture_articles() -> list[dict[str, Any]]:
    return list(json.loads((DATA / "articles.json").read_text(encoding="utf-8")))


def fixture_queries(split: str | None = None) -> list[dict[str, Any]]:
    queries = json.loads((DATA / "queries.json").read_text(encoding="utf-8"))
    return [q for q in queries if split is None or q["split"] == split]


def load(kb: KnowledgeBase, *, publish: bool = True) -> KnowledgeBase:
    """Write every fixture article into ``kb`` (and publish it)."""
    for fields in fixture_articles():
        fields = dict(fields)
        article_id = fields.pop("id")
        kb.write(article_id=article_id, editor="kb-team", **fields)
        if publish:
            kb.publish(article_id, by="kb-team")
    return kb
