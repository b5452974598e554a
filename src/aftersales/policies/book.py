"""Policy sets (one version of a shop's policy) and policy books (versions by date)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from pydantic import Field, model_validator
from typing_extensions import Self

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import Record
from aftersales.policies.dates import local_date, zone
from aftersales.policies.decision import Decision, Outcome, reason
from aftersales.policies.facts import Facts, as_facts
from aftersales.policies.rules import Context, Rule, decision

__all__ = ["PolicyBook", "PolicySet", "PolicyVersion"]


class PolicySet(Record):
    """One version of a policy: rules for claim kinds, in a time zone.

    The first rule that handles the claim's kind decides. Build from plain data with
    :meth:`from_dict` or :meth:`from_json`; :meth:`json_schema` gives editors a schema.
    """

    name: Annotated[str, Field(min_length=1, max_length=128)]
    version: Annotated[str, Field(min_length=1, max_length=64)] = "1"
    jurisdiction: str | None = None
    time_zone: str = "UTC"
    source: str = ""
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_zone(self) -> Self:
        try:
            zone(self.time_zone)
        except InvalidInput:
            raise ValueError(f"unknown time zone {self.time_zone!r}") from None
        return self

    @property
    def label(self) -> str:
        """``name@version``, as decisions name the policy that decided."""
        return f"{self.name}@{self.version}"

    def evaluate(self, facts: Facts | Mapping[str, Any]) -> Decision:
        """Decide ``facts.claim`` under this policy. Pure: no storage, no clock.

        ``facts`` may be plain data (a mapping), validated into :class:`Facts` first;
        anything else raises InvalidInput."""
        if type(facts) is not Facts:
            facts = as_facts(facts)
        context = Context(facts, zone(self.time_zone), f"{self.name}@{self.version}")
        kind = facts.claim.kind
        for rule in self.rules:
            if kind in rule.handles:
                return rule.evaluate(context)
        return decision(
            context, Outcome.REFUSED, [reason("wrong_claim_kind", False, kind=kind.value)]
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicySet:
        """Validate a policy written as plain data; errors name the bad field."""
        return cls.model_validate(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> PolicySet:
        """Validate a policy written as JSON."""
        return cls.model_validate_json(text)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of a policy set, for editors and validation elsewhere."""
        return cls.model_json_schema()


class PolicyVersion(Record):
    """A policy set and the day it takes effect (contracts from that day on)."""

    effective_from: date
    policy: PolicySet


class PolicyBook(Record):
    """Versions of a policy by effective date. The version in force on the contract
    (purchase) date decides, unless ``decide_by`` says ``claim``."""

    name: str
    versions: tuple[PolicyVersion, ...] = Field(min_length=1)
    decide_by: str = "contract"

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        days = [v.effective_from for v in self.versions]
        if len(set(days)) != len(days):
            raise ValueError("two versions take effect on the same day")
        if self.decide_by not in ("contract", "claim"):
            raise ValueError("decide_by must be 'contract' or 'claim'")
        object.__setattr__(
            self, "versions", tuple(sorted(self.versions, key=lambda v: v.effective_from))
        )
        return self

    def version_for(self, facts: Facts | Mapping[str, Any]) -> PolicySet:
        """The version in force for these facts."""
        if type(facts) is not Facts:
            facts = as_facts(facts)
        first = self.versions[0].policy
        by_contract = self.decide_by == "contract"
        instant = facts.order.purchased_at if by_contract else facts.claim.at
        day = local_date(instant, zone(first.time_zone))
        chosen = None
        for version in self.versions:
            if version.effective_from <= day:
                chosen = version.policy
        if chosen is None:
            raise InvalidInput(
                "facts",
                [
                    FieldError(
                        ("order", "purchased_at") if by_contract else ("claim", "at"),
                        f"no version of {self.name!r} was in force on {day}; the first took effect "
                        f"on {self.versions[0].effective_from}",
                    )
                ],
            )
        return chosen

    def evaluate(self, facts: Facts | Mapping[str, Any]) -> Decision:
        """Decide with the version in force; the decision names it. ``facts`` may be
        plain data, as for :meth:`PolicySet.evaluate`."""
        if type(facts) is not Facts:
            facts = as_facts(facts)
        return self.version_for(facts).evaluate(facts)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyBook:
        """Validate a policy book written as plain data."""
        return cls.model_validate(data)


def to_json_schema_text() -> str:  # pragma: no cover - convenience for editors
    return json.dumps(PolicySet.json_schema(), indent=2, ensure_ascii=False)
