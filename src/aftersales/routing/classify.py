"""Classifying inquiries: a protocol for any model, and bilingual rules as data."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Protocol, runtime_checkable

import attrs
from pydantic import Field, model_validator
from typing_extensions import Self

from aftersales._validation import NO_NUL
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import Record
from aftersales.models.customer import Channel
from aftersales.models.ticket import Severity
from aftersales.routing._text import has_cjk, normalise, words

__all__ = [
    "CATEGORIES",
    "CategoryRule",
    "Classification",
    "Classifier",
    "ClassifierRules",
    "InquiryContext",
    "RuleClassifier",
    "SeverityRules",
]

CATEGORIES = (
    "return_refund",
    "exchange",
    "repair_warranty",
    "delivery",
    "billing_invoice",
    "account",
    "product_inquiry",
    "complaint",
    "other",
)
"""The built-in categories; ``other`` is the fallback when nothing matches."""

_TIE_ORDER = {
    name: rank
    for rank, name in enumerate(
        (
            "complaint",
            "repair_warranty",
            "return_refund",
            "exchange",
            "delivery",
            "billing_invoice",
            "account",
            "product_inquiry",
            "other",
        )
    )
}
"""On a tie the more serious category wins: a complaint about a courier is a complaint."""

MAX_TEXT = 20_000
"""Characters of a message that are classified; the rest is ignored (and said so)."""


@attrs.frozen
class InquiryContext:
    """What besides the text may inform a classification."""

    channel: Channel | None = None
    customer_tier: str | None = None
    previous_contacts: int = 0
    order_value: Decimal | None = None


@attrs.frozen
class Classification:
    """The answer: category, severity, a confidence from 0 to 1, and the evidence."""

    category: str
    severity: Severity
    confidence: float
    evidence: tuple[str, ...] = ()


@runtime_checkable
class Classifier(Protocol):
    """Anything that classifies an inquiry: the rules here, or a model of yours."""

    def classify(self, text: str, context: InquiryContext | None = None) -> Classification:
        """Classify ``text``; never raises for odd text (empty, huge, binary)."""
        ...


_Word = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
"""A keyword, stem or phrase: an empty one would match every text."""


class CategoryRule(Record):
    """Words that point to a category.

    ``stems`` match the start of an English word ("refund" matches "refunds",
    "refunding"); ``phrases`` match anywhere in the lower-cased text; ``zh`` match
    anywhere in the text after traditional characters are simplified. A match counts
    ``weight``, unless a word of ``unless`` occurs too ("exchange" but not "exchange rate").
    """

    stems: tuple[_Word, ...] = ()
    phrases: tuple[_Word, ...] = ()
    zh: tuple[_Word, ...] = ()
    unless: tuple[_Word, ...] = ()
    weight: Annotated[float, Field(gt=0, le=100)] = 1.0


class SeverityRules(Record):
    """Signals that raise severity from ``default``."""

    default: Severity = Severity.MEDIUM
    low_for: frozenset[str] = frozenset({"other", "product_inquiry", "account"})
    critical: tuple[_Word, ...] = ()
    high: tuple[_Word, ...] = ()
    repeat_contacts: Annotated[int, Field(ge=1)] = 2
    vip_tiers: frozenset[str] = frozenset({"vip", "gold", "platinum"})
    high_order_value: Decimal | None = Decimal(5000)


_RAISE = {
    Severity.LOW: Severity.MEDIUM,
    Severity.MEDIUM: Severity.HIGH,
    Severity.HIGH: Severity.CRITICAL,
    Severity.CRITICAL: Severity.CRITICAL,
}


class ClassifierRules(Record):
    """A whole rule set, as data (JSON): categories, severity signals, extra categories."""

    categories: dict[str, tuple[CategoryRule, ...]]
    severity: SeverityRules = SeverityRules()
    extra_categories: frozenset[str] = frozenset()

    @model_validator(mode="after")
    def _known_categories(self) -> Self:
        known = set(CATEGORIES) | self.extra_categories
        unknown = sorted(set(self.categories) - known)
        if unknown:
            raise ValueError(
                f"unknown categories {unknown}; declare them in extra_categories "
                f"or use one of {', '.join(CATEGORIES)}"
            )
        return self

    def extended(self, other: Mapping[str, Any]) -> ClassifierRules:
        """These rules plus ``other``'s (their category rules are added to ours)."""
        extra = ClassifierRules.model_validate(other)
        merged = {name: tuple(rules) for name, rules in self.categories.items()}
        for name, rules in extra.categories.items():
            merged[name] = merged.get(name, ()) + tuple(rules)
        return ClassifierRules(
            categories=merged,
            severity=extra.severity if "severity" in other else self.severity,
            extra_categories=self.extra_categories | extra.extra_categories,
        )


class RuleClassifier:
    """Bilingual keyword rules. Fast (tens of thousands a second), explainable (the
    evidence lists what matched), and editable as data.

    >>> classifier = RuleClassifier()
    >>> result = classifier.classify("洗衣机漏电，还冒烟了！")
    >>> result.category, result.severity.value, result.evidence
    ('repair_warranty', 'critical', ('zh:漏电', 'zh:冒烟', 'severity:冒烟'))
    """

    def __init__(self, rules: ClassifierRules | Mapping[str, Any] | None = None) -> None:
        from aftersales.routing.default_rules import DEFAULT_RULES

        if rules is None:
            rules = DEFAULT_RULES
        elif not isinstance(rules, ClassifierRules):
            try:
                rules = ClassifierRules.model_validate(rules)
            except InvalidInput:
                raise
        self.rules = rules
        self._stems: dict[str, list[tuple[str, float, tuple[str, ...], str]]] = {}
        self._phrases: list[tuple[str, str, float, tuple[str, ...]]] = []
        self._zh: list[tuple[str, str, float, tuple[str, ...]]] = []
        lengths = set()
        for category, category_rules in rules.categories.items():
            for rule in category_rules:
                unless = tuple(normalise(u) for u in rule.unless)
                for stem in rule.stems:
                    key = normalise(stem)
                    lengths.add(len(key))
                    self._stems.setdefault(key, []).append((category, rule.weight, unless, stem))
                self._phrases.extend(
                    (normalise(p), category, rule.weight, unless) for p in rule.phrases
                )
                self._zh.extend((normalise(z), category, rule.weight, unless) for z in rule.zh)
        self._lengths = sorted(lengths, reverse=True)
        # Chinese keywords by first character: only those that can occur are searched for.
        self._zh_by_first: dict[str, list[tuple[str, str, float, tuple[str, ...]]]] = {}
        for entry in self._zh:
            self._zh_by_first.setdefault(entry[0][0], []).append(entry)
        severity = rules.severity
        self._critical = tuple(normalise(w) for w in severity.critical)
        self._high = tuple(normalise(w) for w in severity.high)

    def classify(self, text: str, context: InquiryContext | None = None) -> Classification:
        if not isinstance(text, str):
            raise InvalidInput("inquiry", [FieldError(("text",), "must be a string")])
        clean = normalise(text[:MAX_TEXT])
        if not clean.strip():
            return Classification("other", self.rules.severity.default, 0.0, ("empty",))
        scores: dict[str, float] = {}
        evidence: list[str] = []

        def hit(category: str, weight: float, unless: tuple[str, ...], label: str) -> None:
            if unless and any(word in clean for word in unless):
                return
            scores[category] = scores.get(category, 0.0) + weight
            evidence.append(label)

        stems, lengths = self._stems, self._lengths
        for word in dict.fromkeys(words(clean)):  # in text order: the evidence reads the same
            for length in lengths:
                if length <= len(word):
                    for category, weight, unless, stem in stems.get(word[:length], ()):
                        hit(category, weight, unless, stem)
        for phrase, category, weight, unless in self._phrases:
            if phrase in clean:
                hit(category, weight, unless, phrase)
        if has_cjk(clean):
            by_first = self._zh_by_first
            for char in dict.fromkeys(clean):
                for keyword, category, weight, unless in by_first.get(char, ()):
                    if keyword in clean:
                        hit(category, weight, unless, f"zh:{keyword}")
        if scores:
            ranked = sorted(
                scores.items(), key=lambda item: (-item[1], _TIE_ORDER.get(item[0], 99))
            )
            category, best = ranked[0]
            second = ranked[1][1] if len(ranked) > 1 else 0.0
            confidence = round(best / (best + second + 1.0), 3)
        else:
            category, confidence = "other", 0.0
        severity = self._severity(clean, category, context, evidence)
        return Classification(category, severity, confidence, tuple(evidence))

    def _severity(
        self, clean: str, category: str, context: InquiryContext | None, evidence: list[str]
    ) -> Severity:
        rules = self.rules.severity
        for word in self._critical:
            if word in clean:
                evidence.append(f"severity:{word}")
                return Severity.CRITICAL
        severity = Severity.LOW if category in rules.low_for else rules.default
        for word in self._high:
            if word in clean:
                evidence.append(f"severity:{word}")
                severity = Severity.HIGH
                break
        if context is not None:
            if context.previous_contacts >= rules.repeat_contacts:
                evidence.append(f"severity:repeat contact x{context.previous_contacts}")
                severity = _RAISE[severity]
            if (
                context.customer_tier is not None
                and context.customer_tier.lower() in rules.vip_tiers
            ):
                evidence.append(f"severity:tier {context.customer_tier}")
                severity = _RAISE[severity]
            if (
                rules.high_order_value is not None
                and context.order_value is not None
                and context.order_value >= rules.high_order_value
            ):
                evidence.append(f"severity:order value {context.order_value}")
                severity = _RAISE[severity]
        return severity
