"""Self-service: the bot answers an inquiry with a knowledge-base article; the customer
confirms it solved the problem (the ticket is resolved as self-served) or asks for a
person (the ticket goes to routing with the suggestion and their words as context).

Everything here goes through the desk's public API, so each step is a message or a
ticket transition with its event, stored like any other:

- **Offer**: a public reply by the bot (``author_role="bot"``, on the ``bot`` channel by
  default) holding the article and ending with a reference line
  ``[kb:<article id> v<version> confidence <0.00>]`` that :meth:`SelfService.offers`
  reads back.
- **Self-served**: the bot classifies a new ticket with the article's category and fires
  the ticket workflow's ``self_serve`` trigger (the article's id and version and the
  offer's confidence on the event; ``Ticket.self_served_by`` names the article); the
  customer confirms (the ``confirm`` event's actor is the customer).
  :func:`is_self_served` reads the mark from the ticket alone.
- **Hand-over**: the customer's words as their message, an internal note for the agent
  naming the article offered, then :meth:`aftersales.Desk.route` when the desk has a
  classifier.

The flow expects the shipped ticket workflow's triggers (``classify``, ``self_serve``,
``confirm``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from aftersales._validation import check_text
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.knowledge.articles import Article, Language
from aftersales.knowledge.base import KnowledgeBase
from aftersales.knowledge.tokens import has_cjk
from aftersales.models import AuthorRole, Channel, MessageKind, Severity, StatusCategory, Ticket
from aftersales.routing.classify import MAX_TEXT
from aftersales.storage import TicketQuery, every_ticket

if TYPE_CHECKING:
    from aftersales.desk import Desk

__all__ = [
    "BOT",
    "SELF_SERVED_PREFIX",
    "Deflection",
    "Offer",
    "SelfService",
    "is_self_served",
]

BOT = "bot"
"""The default actor and author id of the self-service bot."""
SELF_SERVED_PREFIX = "Self-served: "
"""How the resolution of a self-served ticket starts."""

_REFERENCE = re.compile(r"\[kb:(\S+) v(\d+) confidence (\d\.\d\d)\]\Z")
_EXCERPT = 1_500
_STEPS = 12_000
"""Characters of a tutorial's steps an offer quotes (an offer stays far below a message's
100,000; the customer opens the article for the rest)."""
_NOTE_QUOTE = 2_000
"""Characters of the customer's words the hand-over note quotes."""
_QUESTION = {
    Language.EN: "Did this solve your problem? Reply yes, or ask for a person.",
    Language.ZH: "这解决了您的问题吗？请回复“是”，或要求转人工客服。",
}
_RESOLVED = (StatusCategory.RESOLVED, StatusCategory.CLOSED)
_NEEDED_TRIGGERS = ("classify", "self_serve", "confirm")


_PAGE = 10_000
"""Tickets a deflection report reads at a time."""


@attrs.frozen
class Offer:
    """An article the bot offered on a ticket, as its message records it."""

    ticket_id: str
    article_id: str
    version: int
    confidence: float
    message_id: str
    at: datetime


@attrs.frozen
class Deflection:
    """How many inquiries self-service answered in a period.

    ``inquiries`` counts the tickets created in the period (duplicates merged into
    another left out), ``offered`` those the bot offered an article, ``self_served``
    those resolved by an offered article and confirmed by the customer.
    """

    inquiries: int
    offered: int
    self_served: int

    @property
    def rate_of_offered(self) -> float:
        """Self-served / offered a self-service answer (0.0 when nothing was offered)."""
        return self.self_served / self.offered if self.offered else 0.0

    @property
    def rate_of_all(self) -> float:
        """Self-served / every inquiry (0.0 when there were none)."""
        return self.self_served / self.inquiries if self.inquiries else 0.0


def _reference(article: Article, confidence: float) -> str:
    """The line that ties a message or a resolution to the article version offered."""
    return f"[kb:{article.id} v{article.version} confidence {confidence:.2f}]"


def is_self_served(ticket: Ticket) -> bool:
    """Whether the ticket was resolved by a knowledge-base article (``self_serve``) and
    is still resolved (reopening clears :attr:`Ticket.self_served_by`)."""
    return ticket.self_served_by is not None and ticket.status_category in _RESOLVED


class SelfService:
    """The self-service bot of a desk, answering from a knowledge base.

    ``bot`` is the actor and author id the bot writes as; ``channel`` the channel its
    replies go out on (``bot`` or ``self_service``); ``threshold`` the least confidence
    an article needs to be offered (the search's default when None).
    """

    def __init__(
        self,
        desk: Desk,
        knowledge: KnowledgeBase,
        *,
        bot: str = BOT,
        channel: Channel | str = Channel.BOT,
        threshold: float | None = None,
    ) -> None:
        self.desk = desk
        self.knowledge = knowledge
        self.bot = check_text("bot", bot)
        try:
            self.channel = Channel(channel)
        except ValueError:
            raise InvalidInput(
                "channel", [FieldError(("channel",), f"unknown channel {channel!r}")]
            ) from None
        self.threshold = threshold

    # ---------------------------------------------------------------- the offer

    def offer(
        self,
        ticket_id: str,
        *,
        language: Language | str | None = None,
        product: str | None = None,
    ) -> Offer | None:
        """Offer the best published article for the ticket's inquiry, as the bot's public
        reply; None (and nothing recorded) when the knowledge base abstains.

        ``language`` defaults to the inquiry's (Chinese when it has Chinese characters);
        ``product`` keeps the articles for that product and those for every product.
        """
        ticket = self.desk.get(ticket_id)
        if ticket.status_category in (*_RESOLVED, StatusCategory.WAITING_ON_THIRD_PARTY):
            raise InvalidInput(
                "offer",
                [
                    FieldError(
                        ("status",),
                        f"ticket {ticket.display_number} is {ticket.status}: "
                        "offer answers to open inquiries only",
                    )
                ],
            )
        inquiry = f"{ticket.subject}\n{ticket.description}"
        if language is None:
            language = Language.ZH if has_cjk(inquiry) else Language.EN
        found = self.knowledge.suggest(
            inquiry, language=language, product=product, limit=1, threshold=self.threshold
        )
        if not found:
            return None
        best = found[0]
        message = self.desk.add_message(
            ticket.id,
            _offer_text(best.article, best.confidence),
            author_id=self.bot,
            author_role=AuthorRole.BOT,
            channel=self.channel,
        )
        return Offer(
            ticket.id,
            best.article.id,
            best.article.version,
            round(best.confidence, 2),
            message.id,
            message.at,
        )

    def offers(self, ticket_id: str) -> list[Offer]:
        """The articles the bot offered on the ticket, oldest first, read from its messages."""
        found = []
        for message in self.desk.messages(ticket_id):
            if message.author_role is not AuthorRole.BOT or message.author_id != self.bot:
                continue
            matched = _REFERENCE.search(message.body)
            if matched is not None:
                article_id, version, confidence = matched.groups()
                found.append(
                    Offer(
                        message.ticket_id,
                        article_id,
                        int(version),
                        float(confidence),
                        message.id,
                        message.at,
                    )
                )
        return found

    # ---------------------------------------------------------------- the answer

    def accept(self, ticket_id: str, *, note: str | None = None) -> Ticket:
        """The customer says the offered article solved their problem: the ticket is
        resolved as self-served and confirmed by the customer; returns it.

        A ticket still ``new`` is first classified with the article's category (severity
        low); the bot then fires ``self_serve`` with the article's id, version and the
        offer's confidence (kept on the event; :attr:`Ticket.self_served_by` names the
        article), and the customer's ``confirm`` follows. Everything is checked before
        the first transition; should one fail (another writer changed the ticket),
        calling again finishes the rest.
        """
        ticket = self.desk.get(ticket_id)
        offer = self._last_offer(ticket)
        article = self.knowledge.get(offer.article_id)
        self._check_workflow(ticket)
        category = self._category(ticket, article)
        desk = self.desk
        if ticket.status == "new":
            ticket = desk.classify(
                ticket.id, category=category, severity=Severity.LOW, actor=self.bot
            )
        if "self_serve" in self._allowed(ticket):
            payload = {
                "resolution": f"{SELF_SERVED_PREFIX}{article.title}",
                "article_id": article.id,
                "article_version": offer.version,
                "confidence": offer.confidence,
            }
            ticket = desk.fire(ticket.id, "self_serve", actor=self.bot, payload=payload)
        if ticket.status == "resolved" and is_self_served(ticket):
            payload = {"note": note or "the customer confirmed the self-service answer"}
            ticket = desk.fire(ticket.id, "confirm", actor=ticket.customer_id, payload=payload)
        return ticket

    def hand_over(self, ticket_id: str, words: str) -> Ticket:
        """The customer asks for a person: their ``words`` become their message, an
        internal note tells the agent which article was offered, and a new ticket is
        routed (classified and assigned) when the desk has a classifier. Returns the
        ticket."""
        ticket = self.desk.get(ticket_id)
        if not isinstance(words, str) or not words.strip():
            raise InvalidInput("hand_over", [FieldError(("words",), "must be non-empty text")])
        offers = self.offers(ticket.id)
        desk = self.desk
        desk.add_message(
            ticket.id,
            words,
            author_id=ticket.customer_id,
            author_role=AuthorRole.CUSTOMER,
            channel=self.channel,
        )
        desk.add_message(
            ticket.id,
            _hand_over_note(self.knowledge, offers, words),
            author_id=self.bot,
            author_role=AuthorRole.BOT,
            kind=MessageKind.INTERNAL_NOTE,
            channel=self.channel,
        )
        ticket = desk.get(ticket.id)
        if ticket.status == "new" and desk.classifier is not None:
            # a classifier reads the opening of a text; the message keeps all of it
            ticket = desk.route(ticket.id, more_text=words[:MAX_TEXT])
        return ticket

    # ---------------------------------------------------------------- reporting

    def deflection(self, *, created_from: datetime, created_to: datetime) -> Deflection:
        """How many inquiries created in [``created_from``, ``created_to``) were offered
        a self-service answer and how many it resolved (see :class:`Deflection`)."""
        inquiries = offered = served = 0
        for ticket in self._tickets(created_from, created_to):
            if ticket.merged_into is not None:
                continue
            inquiries += 1
            if self.offers(ticket.id):
                offered += 1
                served += is_self_served(ticket)
        return Deflection(inquiries, offered, served)

    # ---------------------------------------------------------------- internals

    def _tickets(self, created_from: datetime, created_to: datetime) -> Iterator[Ticket]:
        """The period's tickets, oldest first, read by cursor (an offset page reads every
        row before it)."""
        query = TicketQuery(created_from=created_from, created_to=created_to, limit=_PAGE)
        return every_ticket(self.desk.store, query)

    def _allowed(self, ticket: Ticket) -> tuple[str, ...]:
        return self.desk.workflow.allowed_triggers(ticket.status)

    def _last_offer(self, ticket: Ticket) -> Offer:
        offers = self.offers(ticket.id)
        if not offers:
            raise InvalidInput(
                "accept",
                [
                    FieldError(
                        ("ticket",),
                        f"no self-service answer was offered on ticket {ticket.display_number}",
                    )
                ],
            )
        return offers[-1]

    def _check_workflow(self, ticket: Ticket) -> None:
        missing = [t for t in _NEEDED_TRIGGERS if t not in self.desk.workflow.triggers]
        if missing:
            raise InvalidInput(
                "accept",
                [
                    FieldError(
                        ("workflow",),
                        f"self-service needs the triggers {', '.join(_NEEDED_TRIGGERS)}; "
                        f"the desk's workflow lacks {', '.join(missing)}",
                    )
                ],
            )
        finishing = ticket.status == "resolved" and is_self_served(ticket)
        if ticket.status_category in _RESOLVED and not finishing:
            raise InvalidInput(
                "accept",
                [
                    FieldError(
                        ("status",),
                        f"ticket {ticket.display_number} is already {ticket.status}",
                    )
                ],
            )

    def _category(self, ticket: Ticket, article: Article) -> str:
        if ticket.category is not None:
            return ticket.category
        if article.category in self.desk.categories:
            return article.category
        return self.desk.check_category("other")


def _offer_text(article: Article, confidence: float) -> str:
    body = article.body
    if len(body) > _EXCERPT:
        body = body[:_EXCERPT].rstrip() + "…"
    steps: list[str] = []
    room = _STEPS
    for number, step in enumerate(article.steps, start=1):
        line = f"{number}. {step}"
        if len(line) > room:
            steps.append(f"… ({len(article.steps) - number + 1} more steps in the article)")
            break
        steps.append(line)
        room -= len(line)
    return "\n\n".join(
        (
            article.title,
            body,
            *(("\n".join(steps),) if steps else ()),
            _QUESTION[article.language],
            _reference(article, confidence),
        )
    )


def _hand_over_note(knowledge: KnowledgeBase, offers: list[Offer], words: str) -> str:
    if len(words) > _NOTE_QUOTE:  # the customer's message holds them all
        words = words[:_NOTE_QUOTE] + "…"
    if not offers:
        return f"The customer asked for a person before any self-service answer: {words}"
    offer = offers[-1]
    try:
        title = knowledge.get(offer.article_id).title
    except LookupError:
        title = "(article no longer in the knowledge base)"
    return (
        f"Self-service offered “{title}” [kb:{offer.article_id} v{offer.version} confidence "
        f"{offer.confidence:.2f}]; the customer asked for a person: {words}"
    )
