"""What a desk's tickets may say: its categories, priority levels, states and triggers."""

from __future__ import annotations

from typing import Any

from aftersales._validation import unknown
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Ticket
from aftersales.models.ticket import priority_level
from aftersales.routing.assign import Router
from aftersales.routing.classify import CATEGORIES, Classifier, RuleClassifier
from aftersales.settings import DeskSettings
from aftersales.workflows import Workflow


class Vocabulary:
    """The names a desk declares, checked wherever a ticket or a query names one.

    The categories are the classifier's (``DeskSettings.categories`` when given, which
    must include every answer of a rule classifier), the priorities
    ``DeskSettings.priorities``, the states and triggers the workflow's.
    """

    __slots__ = ("_categories", "_priorities", "categories", "settings", "states", "triggers")

    def __init__(
        self, settings: DeskSettings, workflow: Workflow, classifier: Classifier | None
    ) -> None:
        self.settings = settings
        self.categories: tuple[str, ...] = _categories(settings, classifier)
        self._categories = frozenset(self.categories)
        self._priorities = frozenset(settings.priorities)
        self.states = frozenset(state.name for state in workflow.states)
        self.triggers = frozenset(workflow.triggers)

    def check_routing(self, router: Router | None) -> None:
        """InvalidInput if routing rules or agents' skills name an unknown category."""
        if router is None:
            return
        known = self._categories
        errors = []
        for index, rule in enumerate(router.config.rules):
            missing = sorted((rule.match.category or frozenset()) - known)
            if missing:
                errors.append(
                    FieldError(
                        ("rules", index, "match", "category"),
                        f"rule {rule.name!r} names unknown categories {', '.join(missing)}; "
                        f"the desk's categories: {', '.join(self.categories)}",
                    )
                )
        for index, agent in enumerate(router.config.agents):
            missing = sorted(agent.skills.categories - known)
            if missing:
                errors.append(
                    FieldError(
                        ("agents", index, "skills", "categories"),
                        f"agent {agent.id!r} has skills in unknown categories "
                        f"{', '.join(missing)}; the desk's categories: "
                        f"{', '.join(self.categories)}",
                    )
                )
        if errors:
            raise InvalidInput("routing", errors)

    def check_category(self, category: object) -> str:
        """``category`` if the desk knows it; otherwise InvalidInput naming the known ones."""
        if isinstance(category, str) and category in self._categories:
            return category
        raise InvalidInput("category", [unknown("category", [category], self.categories)])

    def priority_rank(self, priority: str) -> int:
        """0 for the most urgent of the desk's levels, in ``DeskSettings.priorities`` order."""
        try:
            return self.settings.priorities.index(priority)
        except ValueError:
            raise InvalidInput(
                "priority",
                [unknown("priority", [priority], self.settings.priorities)],
            ) from None

    def check_updates(self, updates: dict[str, Any]) -> None:
        """Check a transition's new category and priority (the priority as a level)."""
        category = updates.get("category")
        if category is not None:
            self.check_category(category)
        priority = updates.get("priority")
        if priority is not None:
            if priority not in self._priorities:
                raise InvalidInput(
                    "priority", [unknown("priority", [priority], self.settings.priorities)]
                )
            updates["priority"] = priority_level(priority)

    def check_ticket(self, ticket: Ticket, where: tuple[str | int, ...] = ()) -> None:
        """The desk's own limits and vocabulary, beyond what a Ticket validates."""
        errors = []
        settings = self.settings
        if len(ticket.tags) > settings.max_tags:
            errors.append(
                FieldError((*where, "tags"), f"at most {settings.max_tags} tags (max_tags)")
            )
        if ticket.priority not in self._priorities:
            errors.append(unknown((*where, "priority"), [ticket.priority], settings.priorities))
        if ticket.category is not None and ticket.category not in self._categories:
            errors.append(unknown((*where, "category"), [ticket.category], self.categories))
        if errors:
            raise InvalidInput("ticket", errors)

    def check_status(
        self, status: object, subject: str, where: str | tuple[str | int, ...]
    ) -> None:
        """InvalidInput on ``subject`` unless ``status`` (when given) is a workflow state."""
        if status is not None and (not isinstance(status, str) or status not in self.states):
            raise InvalidInput(subject, [unknown(where, [status], sorted(self.states))])


def _categories(settings: DeskSettings, classifier: Classifier | None) -> tuple[str, ...]:
    names = dict.fromkeys(CATEGORIES)
    if isinstance(classifier, RuleClassifier):
        names.update(dict.fromkeys(classifier.rules.categories))
        names.update(dict.fromkeys(sorted(classifier.rules.extra_categories)))
    declared = settings.categories
    if declared is None:
        return tuple(names)
    if isinstance(classifier, RuleClassifier):
        answers = {"other", *classifier.rules.categories}
        missing = sorted(answers - set(declared))
        if missing:
            raise InvalidInput(
                "desk",
                [
                    FieldError(
                        ("settings", "categories"),
                        f"the classifier answers {', '.join(missing)}, which the desk's "
                        f"categories ({', '.join(declared)}) do not include",
                    )
                ],
            )
    return declared
