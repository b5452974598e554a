"""What a jurisdiction module declares (its code and its statutory default), the registry
of jurisdictions and :func:`decide`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import Identifier, Record
from aftersales.policies.decision import Decision
from aftersales.policies.facts import Facts, as_facts

__all__ = ["JURISDICTIONS", "Jurisdiction", "decide", "register"]


class Jurisdiction(Record):
    """A jurisdiction's statutory default: facts whose ``jurisdiction`` is ``code`` are
    decided by ``decide``, usually a preset's ``evaluate``, or a function choosing among
    the jurisdiction's presets by the facts. ``summary`` says which preset decides what."""

    code: Identifier
    decide: Callable[[Facts], Decision]
    summary: str = ""


JURISDICTIONS: dict[str, Callable[[Facts], Decision]] = {}
"""The statutory default for each jurisdiction, chosen by ``facts.jurisdiction``."""


def register(jurisdiction: Jurisdiction, *, replace: bool = False) -> None:
    """Make :func:`decide` answer facts of ``jurisdiction.code`` with its ``decide``.

    A code already known raises InvalidInput unless ``replace`` is True (to swap a
    shipped default for your own reading of the law)."""
    if not isinstance(jurisdiction, Jurisdiction):
        raise InvalidInput(
            "jurisdiction",
            [
                FieldError(
                    (),
                    f"expected a Jurisdiction, got {type(jurisdiction).__name__}",
                    "model_type",
                )
            ],
        )
    if jurisdiction.code in JURISDICTIONS and not replace:
        raise InvalidInput(
            "jurisdiction",
            [
                FieldError(
                    ("code",),
                    f"jurisdiction {jurisdiction.code!r} is already registered; "
                    "pass replace=True to replace it",
                )
            ],
        )
    JURISDICTIONS[jurisdiction.code] = jurisdiction.decide


def decide(facts: Facts | Mapping[str, Any]) -> Decision:
    """Decide ``facts`` under the statutory presets of ``facts.jurisdiction``.

    ``facts`` is :class:`~aftersales.policies.Facts` or plain data (a mapping, e.g. parsed
    JSON) validated into it; anything else, or invalid facts, raise InvalidInput.

    China: vehicles by the car rules, no-reason returns by the 7-day rule, catalogue
    categories by 三包, others by consumer law art. 24. EU: withdrawal, else the legal
    guarantee. UK: the Consumer Rights Act. California: §1723. A jurisdiction added with
    :func:`register`: its own default.
    """
    if type(facts) is not Facts:
        facts = as_facts(facts)
    try:
        rule = JURISDICTIONS[facts.jurisdiction]
    except KeyError:
        raise InvalidInput(
            "facts",
            [
                FieldError(
                    ("jurisdiction",),
                    f"unknown jurisdiction {facts.jurisdiction!r}; "
                    f"known: {', '.join(sorted(JURISDICTIONS))}",
                )
            ],
        ) from None
    return rule(facts)
