"""Automations as data: event rules, time rules, escalation chains and macros.

A rule set is validated JSON (:class:`RuleSet`, its JSON Schema from :func:`rules_schema`)
installed on a desk with :class:`Automations`::

    automations = Automations(desk, {"rules": [...]})

Event rules are evaluated in the commit of each event, on the subject after the change;
the actions of a rule that matches run after the commit through the outbox (at least
once, retried, dead-lettered), through the desk's own commands. Time rules and
escalation chains run from :meth:`~aftersales.Desk.run_due`, once per subject and
window. :meth:`Automations.explain` is the dry run; :meth:`Automations.apply_macro`
applies a :class:`Macro` of a :class:`MacroBook`.
"""

from __future__ import annotations

from aftersales.automations._actions import Outcome
from aftersales.automations._conditions import ConditionVerdict
from aftersales.automations._engine import Automations, RuleRun, RuleVerdict
from aftersales.automations._macros import MacroBook
from aftersales.automations._model import (
    Condition,
    EscalationLevel,
    EscalationRule,
    EventRule,
    Macro,
    RuleSet,
    TimeRule,
    parse_rules,
    rules_schema,
)

__all__ = [
    "Automations",
    "Condition",
    "ConditionVerdict",
    "EscalationLevel",
    "EscalationRule",
    "EventRule",
    "Macro",
    "MacroBook",
    "Outcome",
    "RuleRun",
    "RuleSet",
    "RuleVerdict",
    "TimeRule",
    "parse_rules",
    "rules_schema",
]
