"""FAQ entries proposed from the resolutions a desk gives most often, approved by a person."""

from __future__ import annotations

from typing import Any

import pytest

from aftersales import Desk, FrozenClock, InvalidInput
from aftersales.knowledge import (
    ArticleKind,
    ArticleStatus,
    KnowledgeBase,
    Language,
    SelfService,
    faq_candidates,
)

PRINT_LABEL = "Print the prepaid label from My Orders and drop the parcel at a post office."
WAIT_FOR_BANK = "Card refunds take 5 to 10 business days to reach your statement."
RESET_LINK = "We sent a new password reset link; it is valid for one hour."


def resolve(desk: Desk, subject: str, category: str, resolution: str) -> str:
    ticket = desk.open_ticket(customer="c-1", channel="email", subject=subject)
    desk.classify(ticket.id, category=category, severity="low")
    desk.assign(ticket.id, assignee="li.wei")
    desk.fire(ticket.id, "start")
    desk.resolve(ticket.id, resolution=resolution)
    return ticket.id


@pytest.fixture
def desk(clock: FrozenClock) -> Desk:
    desk = Desk(clock=clock)
    for subject in ("How do I return this?", "Return label?", "How do I return this?"):
        resolve(desk, subject, "return_refund", PRINT_LABEL)
    # The same answer written with other spaces, case and a missing full stop.
    resolve(desk, "Refund not on my card", "return_refund", WAIT_FOR_BANK)
    resolve(desk, "Where is my refund", "return_refund", "  card refunds take 5 to 10 business "
            "days to reach your statement")  # fmt: skip
    resolve(desk, "Locked out", "account", RESET_LINK)
    resolve(desk, "Password", "account", RESET_LINK)
    resolve(desk, "One-off", "delivery", "Redirected the parcel.")
    return desk


def test_the_most_frequent_resolutions_of_each_category_become_faq_drafts(desk: Desk) -> None:
    candidates = faq_candidates(desk)
    summary = [(c.draft.category, c.count, c.draft.title, c.draft.body) for c in candidates]
    assert summary == [
        ("return_refund", 3, "How do I return this?", PRINT_LABEL),
        ("return_refund", 2, "Refund not on my card", WAIT_FOR_BANK),
        ("account", 2, "Locked out", RESET_LINK),
    ]
    draft = candidates[0].draft
    assert (draft.kind, draft.status, draft.language) == (
        ArticleKind.FAQ,
        ArticleStatus.DRAFT,
        Language.EN,
    )
    assert draft.edit_note == "proposed from 3 resolved tickets"
    assert len(candidates[0].ticket_ids) == 3


def test_per_category_and_min_count_bound_the_proposals(desk: Desk) -> None:
    top = faq_candidates(desk, per_category=1, min_count=1)
    assert [(c.draft.category, c.count) for c in top] == [
        ("return_refund", 3),
        ("delivery", 1),
        ("account", 2),
    ]
    assert faq_candidates(desk, min_count=4) == []
    with pytest.raises(InvalidInput):
        faq_candidates(desk, per_category=0)


def test_nothing_is_stored_until_a_person_approves_and_approving_publishes(
    desk: Desk, clock: FrozenClock
) -> None:
    kb = KnowledgeBase(clock=clock)
    candidate = faq_candidates(desk)[2]
    assert list(kb) == []
    approved = kb.approve(candidate.draft, by="zhang.min")
    assert (approved.status, approved.published_by) == (ArticleStatus.PUBLISHED, "zhang.min")
    assert kb.suggest("locked out, need a password reset link")[0].article.id == approved.id


def test_self_served_tickets_are_not_proposed_again(clock: FrozenClock) -> None:
    desk = Desk(clock=clock)
    kb = KnowledgeBase(clock=clock)
    for _ in range(2):
        resolve(desk, "Forgot my password", "account", RESET_LINK)
    kb.approve(faq_candidates(desk)[0].draft, by="zhang.min")
    bot = SelfService(desk, kb)
    for _ in range(3):
        ticket = desk.open_ticket(customer="c-2", channel="app", subject="Forgot my password")
        assert bot.offer(ticket.id) is not None
        bot.accept(ticket.id)
    assert [c.count for c in faq_candidates(desk)] == [2]


def test_a_chinese_resolution_becomes_a_chinese_draft(clock: FrozenClock) -> None:
    desk = Desk(clock=clock)
    for _ in range(2):
        resolve(desk, "发票怎么开", "billing_invoice", "已在我的订单中为您开具电子发票。")
    [candidate] = faq_candidates(desk)
    assert (candidate.draft.language, candidate.draft.title) == (Language.ZH, "发票怎么开")


def test_faq_candidates_read_resolved_tickets_by_cursor_not_offset(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an offset page reads every row before it
    from aftersales.knowledge import faq

    def summary() -> list[tuple[object, ...]]:
        return [
            (c.draft.category, c.count, c.draft.body, c.ticket_ids) for c in faq_candidates(desk)
        ]

    whole = summary()
    asked = []
    find = desk.store.find

    def recorded(query: Any) -> Any:
        asked.append(query.offset)
        return find(query)

    monkeypatch.setattr(desk.store, "find", recorded)
    monkeypatch.setattr(faq, "_PAGE", 2)
    assert summary() == whole
    assert len(asked) > 2
    assert set(asked) == {0}
