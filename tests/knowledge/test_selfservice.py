"""The self-service bot on a desk: offer an article, resolve as self-served when the
customer confirms, hand over to a person when they ask, and the deflection rate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from kb_fixtures import load

from aftersales import Desk, FrozenClock, InvalidInput, Store
from aftersales.knowledge import (
    SELF_SERVED_PREFIX,
    Deflection,
    KnowledgeBase,
    SelfService,
    is_self_served,
)
from aftersales.routing import RuleClassifier

REFUND_QUESTION = "退款多久能到银行卡"


@pytest.fixture
def kb(clock: FrozenClock) -> KnowledgeBase:
    return load(KnowledgeBase(clock=clock))


@pytest.fixture
def bot(desk: Desk, kb: KnowledgeBase) -> SelfService:
    return SelfService(desk, kb)


def test_an_offer_is_the_bots_public_reply_naming_the_article(desk: Desk, bot: SelfService) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject=REFUND_QUESTION)
    offer = bot.offer(ticket.id)
    assert offer is not None
    assert (offer.ticket_id, offer.article_id, offer.version) == (ticket.id, "zh-refund-timing", 1)
    [message] = desk.messages(ticket.id)
    assert (message.id, message.author_id, message.author_role.value) == (
        offer.message_id,
        "bot",
        "bot",
    )
    assert message.channel.value == "bot"
    assert message.body.startswith("退款多久到账？")
    assert message.body.endswith(f"[kb:zh-refund-timing v1 confidence {offer.confidence:.2f}]")
    assert bot.offers(ticket.id) == [offer]
    assert desk.history(ticket.id)[-1].actor == "bot"


def test_when_the_knowledge_base_abstains_nothing_is_offered_or_recorded(
    desk: Desk, bot: SelfService
) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="给我讲个笑话")
    assert bot.offer(ticket.id) is None
    assert desk.get(ticket.id) == ticket
    assert desk.messages(ticket.id) == []


def test_a_confirmed_answer_resolves_the_ticket_as_self_served(
    desk: Desk, bot: SelfService
) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="web_chat", subject=REFUND_QUESTION)
    offer = bot.offer(ticket.id)
    assert offer is not None
    done = bot.accept(ticket.id)
    assert (done.status, done.category, done.severity.value if done.severity else None) == (
        "confirmed",
        "return_refund",
        "low",
    )
    assert (done.resolution, done.self_served_by) == (
        f"{SELF_SERVED_PREFIX}退款多久到账？",
        "zh-refund-timing",
    )
    assert is_self_served(done)
    steps = [(e.trigger, e.actor) for e in desk.history(ticket.id) if e.is_transition]
    assert steps == [
        ("classify", "bot"),
        ("self_serve", "bot"),
        ("confirm", "c-1"),  # the customer confirmed it
    ]
    served = desk.history(ticket.id)[-2]
    assert served.payload == {
        "resolution": f"{SELF_SERVED_PREFIX}退款多久到账？",
        "article_id": "zh-refund-timing",
        "article_version": 1,
        "confidence": offer.confidence,
    }
    assert desk.replay(ticket.id) == desk.get(ticket.id) == done


def test_accepting_without_an_offer_is_refused_and_changes_nothing(
    desk: Desk, bot: SelfService
) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject=REFUND_QUESTION)
    with pytest.raises(InvalidInput, match="no self-service answer was offered on ticket #1"):
        bot.accept(ticket.id)
    assert desk.get(ticket.id) == ticket


def test_a_ticket_an_agent_holds_can_still_be_self_served(desk: Desk, bot: SelfService) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="I forgot my password")
    desk.classify(ticket.id, category="account", severity="medium")
    desk.assign(ticket.id, assignee="li.wei", team="tier1")
    assert bot.offer(ticket.id) is not None
    done = bot.accept(ticket.id, note="worked, thanks")
    assert (done.status, done.category, done.assignee) == ("confirmed", "account", "li.wei")
    assert done.self_served_by is not None
    assert desk.history(ticket.id)[-1].payload == {"note": "worked, thanks"}


def test_accepting_again_finishes_a_self_service_left_half_way(
    desk: Desk, bot: SelfService
) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject=REFUND_QUESTION)
    offer = bot.offer(ticket.id)
    assert offer is not None
    for trigger, payload in [
        ("classify", {"category": "return_refund", "severity": "low"}),
        ("self_serve", {"resolution": "退款多久到账？", "article_id": "zh-refund-timing"}),
    ]:
        desk.fire(ticket.id, trigger, actor="bot", payload=payload)  # then the process died
    assert bot.accept(ticket.id).status == "confirmed"
    with pytest.raises(InvalidInput, match="is already confirmed"):
        bot.accept(ticket.id)


def test_an_offer_on_a_resolved_ticket_is_refused(desk: Desk, bot: SelfService) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject=REFUND_QUESTION)
    bot.offer(ticket.id)
    bot.accept(ticket.id)
    with pytest.raises(InvalidInput, match="offer answers to open inquiries only"):
        bot.offer(ticket.id)


def test_a_reopened_self_served_ticket_is_no_longer_self_served(
    desk: Desk, bot: SelfService
) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject=REFUND_QUESTION)
    bot.offer(ticket.id)
    bot.accept(ticket.id)
    reopened = desk.reopen(ticket.id, reason="the money never came")
    assert (reopened.status, reopened.self_served_by) == ("in_progress", None)
    assert not is_self_served(reopened)


def test_asking_for_a_person_routes_the_ticket_with_the_offer_as_context(
    store: Store, clock: FrozenClock, kb: KnowledgeBase
) -> None:
    desk = Desk(store, clock=clock, classifier=RuleClassifier())
    bot = SelfService(desk, kb)
    ticket = desk.open_ticket(customer="c-1", channel="app", subject=REFUND_QUESTION)
    offer = bot.offer(ticket.id)
    assert offer is not None
    handed = bot.hand_over(ticket.id, "没有解决，我要人工客服")
    assert (handed.status, handed.category) == ("classified", "return_refund")
    customer_view = desk.messages(ticket.id)
    assert [(m.author_role.value, m.body[-11:]) for m in customer_view][1:] == [
        ("customer", "没有解决，我要人工客服"),
    ]
    [note] = [m for m in desk.messages(ticket.id, include_internal=True) if m not in customer_view]
    assert note.kind.value == "internal_note"
    assert note.body == (
        f"Self-service offered “退款多久到账？” [kb:zh-refund-timing v1 confidence "
        f"{offer.confidence:.2f}]; the customer asked for a person: 没有解决，我要人工客服"
    )


def test_asking_for_a_person_on_a_desk_without_a_classifier_leaves_the_ticket_for_triage(
    desk: Desk, bot: SelfService
) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="tell me a joke")
    handed = bot.hand_over(ticket.id, "a person, please")
    assert handed.status == "new"
    notes = [m.body for m in desk.messages(ticket.id, include_internal=True)]
    assert notes == [
        "a person, please",
        "The customer asked for a person before any self-service answer: a person, please",
    ]
    with pytest.raises(InvalidInput, match="must be non-empty text"):
        bot.hand_over(ticket.id, "  ")


def test_the_deflection_rate_counts_self_served_among_offered_and_among_all(
    desk: Desk, bot: SelfService, clock: FrozenClock
) -> None:
    start = clock.now()
    served = desk.open_ticket(customer="c-1", channel="app", subject=REFUND_QUESTION)
    bot.offer(served.id)
    bot.accept(served.id)
    handed = desk.open_ticket(customer="c-2", channel="app", subject="I forgot my password")
    bot.offer(handed.id)
    bot.hand_over(handed.id, "still locked out")
    desk.open_ticket(customer="c-3", channel="app", subject="tell me a joke")  # abstained
    duplicate = desk.open_ticket(customer="c-1", channel="app", subject="refund?")
    desk.merge(duplicate.id, into=handed.id)
    clock.advance(days=2)
    desk.open_ticket(customer="c-4", channel="app", subject="later")  # outside the period
    report = bot.deflection(created_from=start, created_to=start + timedelta(days=1))
    assert report == Deflection(inquiries=3, offered=2, self_served=1)
    assert (report.rate_of_offered, report.rate_of_all) == (0.5, 1 / 3)
    assert Deflection(0, 0, 0).rate_of_offered == Deflection(0, 0, 0).rate_of_all == 0.0


def test_the_deflection_report_reads_the_period_by_cursor_not_offset(
    desk: Desk, bot: SelfService, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aftersales.knowledge import selfservice

    start = clock.now()
    for customer in ("c-1", "c-2", "c-3", "c-4", "c-5"):
        bot.offer(desk.open_ticket(customer=customer, channel="app", subject=REFUND_QUESTION).id)
    asked = []
    find = desk.store.find

    def recorded(query: Any) -> Any:
        if query.created_from is not None:  # the report's (a ticket's messages read others)
            asked.append(query.offset)
        return find(query)

    monkeypatch.setattr(desk.store, "find", recorded)
    monkeypatch.setattr(selfservice, "_PAGE", 2)
    report = bot.deflection(created_from=start, created_to=start + timedelta(days=1))
    assert report == Deflection(inquiries=5, offered=5, self_served=0)
    assert len(asked) == 3
    assert set(asked) == {0}  # an offset page reads every row before it


def test_a_bot_with_an_unknown_channel_is_refused(desk: Desk, kb: KnowledgeBase) -> None:
    with pytest.raises(InvalidInput, match="unknown channel 'telepathy'"):
        SelfService(desk, kb, channel="telepathy")


def test_a_desk_whose_workflow_lacks_the_triggers_refuses_before_changing_anything(
    clock: FrozenClock, kb: KnowledgeBase
) -> None:
    from aftersales import Workflow

    callback = Workflow.from_dict(
        {
            "name": "callback",
            "initial": "requested",
            "states": [
                {"name": "requested", "category": "new"},
                {"name": "done", "category": "closed"},
            ],
            "transitions": [{"trigger": "call", "source": "requested", "dest": "done"}],
        }
    )
    desk = Desk(workflow=callback, clock=clock)
    bot = SelfService(desk, kb)
    ticket = desk.open_ticket(customer="c-1", channel="app", subject=REFUND_QUESTION)
    assert bot.offer(ticket.id) is not None
    with pytest.raises(
        InvalidInput, match="the desk's workflow lacks classify, self_serve, confirm"
    ):
        bot.accept(ticket.id)
    assert desk.get(ticket.id).status == "requested"


def test_an_article_in_a_category_the_desk_does_not_declare_is_filed_under_other(
    clock: FrozenClock, kb: KnowledgeBase
) -> None:
    desk = Desk(clock=clock, settings={"categories": ["account", "other"]})
    bot = SelfService(desk, kb)
    ticket = desk.open_ticket(customer="c-1", channel="app", subject=REFUND_QUESTION)
    bot.offer(ticket.id)
    assert bot.accept(ticket.id).category == "other"


def test_a_long_article_is_offered_as_an_excerpt_and_a_tutorial_with_its_steps(
    desk: Desk, kb: KnowledgeBase
) -> None:
    tutorial = kb.approve(
        kb.write(
            language="en", category="product_inquiry", kind="tutorial", editor="li.wei",
            title="Pairing the kettle base", body="Pairing " + "takes a moment. " * 200,
            steps=["Hold the kettle button.", "Wait for the beep."],
        ),
        by="li.wei",
    )  # fmt: skip
    bot = SelfService(desk, kb, channel="self_service")
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="pairing the kettle base")
    offer = bot.offer(ticket.id)
    assert offer is not None
    assert offer.article_id == tutorial.id
    [message] = desk.messages(ticket.id)
    assert message.channel.value == "self_service"
    assert "…\n\n1. Hold the kettle button.\n2. Wait for the beep.\n\n" in message.body
    assert len(message.body) < 1_700


def test_the_hand_over_note_says_so_when_the_offered_article_is_gone(
    desk: Desk, bot: SelfService
) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject=REFUND_QUESTION)
    bot.offer(ticket.id)
    elsewhere = SelfService(desk, KnowledgeBase())  # a knowledge base without that article
    elsewhere.hand_over(ticket.id, "人工")
    note = desk.messages(ticket.id, include_internal=True)[-1].body
    assert note.startswith("Self-service offered “(article no longer in the knowledge base)”")


def test_a_tutorial_with_more_steps_than_a_message_holds_is_offered_with_the_first_ones(
    desk: Desk, kb: KnowledgeBase
) -> None:
    steps = [f"Step {n}: " + "descale the kettle. " * 95 for n in range(1, 81)]
    kb.approve(
        kb.write(
            language="en", category="product_inquiry", kind="tutorial", editor="li.wei",
            title="Descaling the kettle", body="Descaling the kettle, step by step.",
            steps=steps,
        ),
        by="li.wei",
    )  # fmt: skip
    bot = SelfService(desk, kb)
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="descaling the kettle")
    assert bot.offer(ticket.id) is not None
    body = desk.messages(ticket.id)[0].body
    assert "1. Step 1: descale" in body
    assert "more steps in the article)" in body
    assert len(body) < 20_000


def test_a_long_hand_over_is_routed_on_its_opening_and_quoted_in_part(
    store: Store, clock: FrozenClock, kb: KnowledgeBase
) -> None:
    desk = Desk(store, clock=clock, classifier=RuleClassifier())
    bot = SelfService(desk, kb)
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="你好", route=False)
    bot.offer(ticket.id)
    words = "我要退款，钱退回原卡。" + "嗯" * 30_000
    handed = bot.hand_over(ticket.id, words)
    assert (handed.status, handed.category) == ("classified", "return_refund")
    customer, note = desk.messages(ticket.id, include_internal=True)[-2:]
    assert customer.body == words
    assert len(note.body) < 3_000
