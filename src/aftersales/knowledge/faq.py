"""FAQ entries proposed from resolved tickets: the resolutions the desk gives most often
in each category, as drafts a person approves (seeds S11)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import attrs

from aftersales._validation import check_count
from aftersales.knowledge.articles import Article, ArticleKind, Language
from aftersales.knowledge.selfservice import is_self_served
from aftersales.knowledge.tokens import has_cjk
from aftersales.models import StatusCategory, Ticket
from aftersales.routing import CATEGORIES
from aftersales.storage import TicketQuery

if TYPE_CHECKING:
    from aftersales.desk import Desk

__all__ = ["PROPOSER", "FaqCandidate", "faq_candidates"]

PROPOSER = "faq-proposer"
"""The editor named on proposed drafts; the person who approves one is its publisher."""

_SPACES = re.compile(r"\s+")
_TRAILING = ".。!！ "


@attrs.frozen
class FaqCandidate:
    """A proposed FAQ entry: a draft (question: the commonest subject of the tickets,
    answer: their resolution), how many resolved tickets gave that resolution, and
    which. Publish it with :meth:`~aftersales.knowledge.KnowledgeBase.approve`."""

    draft: Article
    count: int
    ticket_ids: tuple[str, ...]


def faq_candidates(
    desk: Desk, *, per_category: int = 3, min_count: int = 2, limit: int = 100_000
) -> list[FaqCandidate]:
    """The ``per_category`` most frequent resolutions of each category among the desk's
    resolved and closed tickets (at most ``limit`` of each, oldest first), given by at
    least ``min_count`` tickets, as FAQ drafts; most frequent first within a category.

    Resolutions are compared after normalising width, case and spaces; tickets resolved
    by self-service are left out (their answer is an article already), and so are
    categories the knowledge base does not know (they are filed under ``other``).
    Nothing is stored: approve the candidates you want.
    """
    per_category = check_count("per_category", per_category, 100)
    min_count = check_count("min_count", min_count, 1_000_000)
    limit = check_count("limit", limit, 1_000_000)
    groups: dict[tuple[str, str], list[Ticket]] = defaultdict(list)
    for ticket in _resolved(desk, limit):
        if ticket.resolution is None or is_self_served(ticket):
            continue
        category = ticket.category if ticket.category in CATEGORIES else "other"
        groups[(category, _normalised(ticket.resolution))].append(ticket)
    now = desk.clock.now()
    ranked: dict[str, list[list[Ticket]]] = defaultdict(list)
    for (category, _), tickets in groups.items():
        if len(tickets) >= min_count:
            ranked[category].append(tickets)
    candidates = []
    for category in sorted(ranked, key=CATEGORIES.index):
        best = sorted(ranked[category], key=lambda group: (-len(group), group[0].number))
        for tickets in best[:per_category]:
            answer = _commonest(t.resolution or "" for t in tickets)
            question = _commonest(t.subject for t in tickets)
            draft = Article(
                kind=ArticleKind.FAQ,
                language=Language.ZH if has_cjk(question + answer) else Language.EN,
                category=category,
                title=question,
                body=answer,
                editor=PROPOSER,
                edit_note=f"proposed from {len(tickets)} resolved tickets",
                edited_at=now,
                created_at=now,
                updated_at=now,
            )
            candidates.append(FaqCandidate(draft, len(tickets), tuple(t.id for t in tickets)))
    return candidates


_PAGE = 10_000
"""Tickets read at a time."""


def _resolved(desk: Desk, limit: int) -> Iterator[Ticket]:
    """At most ``limit`` resolved and ``limit`` closed tickets, oldest first, read by
    cursor (an offset page reads every row before it)."""
    for category in (StatusCategory.RESOLVED, StatusCategory.CLOSED):
        query: TicketQuery | None = TicketQuery(status_category=category, limit=min(_PAGE, limit))
        left = limit
        while query is not None and left > 0:
            page = desk.store.find(query)
            yield from page
            left -= len(page)
            query = query.next_page(page)
            if query is not None and left < query.limit:  # the last page: what is left
                query = query.model_copy(update={"limit": left})


def _normalised(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", text).strip().rstrip(_TRAILING)


def _commonest(texts: Iterable[str]) -> str:
    """The text given most often, the earliest among ties (Counter keeps first-seen order)."""
    return Counter(texts).most_common(1)[0][0]
