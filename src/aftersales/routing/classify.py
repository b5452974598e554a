"""Classifying inquiries: a protocol for any model, and bilingual rules as data."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from decimal import Decimal
from operator import itemgetter
from typing import Annotated, Any, Protocol, runtime_checkable

import attrs
from pydantic import Field, model_validator
from typing_extensions import Self

from aftersales._validation import NO_NUL
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import Record
from aftersales.models.customer import Channel
from aftersales.models.ticket import Severity
from aftersales.routing._matching import Kind, Lexicon, Match
from aftersales.routing._text import clause_break_in, normalise, word_spans

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

    ``words`` match whole English words and their regular inflections ("refund" matches
    "refunds" and "refunded", "pin" does not match "pink"); ``stems`` match the start of an
    English word ("refun" matches "refundable"); ``phrases`` match consecutive whole words,
    the last one inflected ("credit card" matches "credit cards"); ``zh`` match anywhere in
    the text after traditional characters are simplified. Each piece of evidence counts
    ``weight`` once, however many terms or rules it matches.

    ``unless``: the rule does not count when one of these occurs too ("exchange" but not
    "exchange rate" or "currencies"). ``needs``: the rule counts only when one of these
    occurs too, the context that gives its words an after-sales sense ("account" with
    "password" or "delete", not a savings account). Both are matched as whole words and
    phrases (English) or runs of characters (Chinese).
    """

    words: tuple[_Word, ...] = ()
    stems: tuple[_Word, ...] = ()
    phrases: tuple[_Word, ...] = ()
    zh: tuple[_Word, ...] = ()
    unless: tuple[_Word, ...] = ()
    needs: tuple[_Word, ...] = ()
    weight: Annotated[float, Field(gt=0, le=100)] = 1.0


class SeverityRules(Record):
    """Signals that raise severity from ``default``.

    ``critical`` and ``high`` are words, phrases (English, at word boundaries, with
    regular inflections: "sue" matches "sued", not "issue") or Chinese terms. A signal
    right after one of ``negations`` does not count ("no smoke", "没有冒烟").
    """

    default: Severity = Severity.MEDIUM
    low_for: frozenset[str] = frozenset({"other", "product_inquiry", "account"})
    critical: tuple[_Word, ...] = ()
    high: tuple[_Word, ...] = ()
    negations: tuple[_Word, ...] = ()
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
    """A whole rule set, as data (JSON): categories, severity signals, extra categories.

    ``negations`` cancel the category words after them in the same clause ("我要换货，
    不要退款" asks for no refund; "I don't want a refund"). ``not_within`` are longer words
    that contain a term but mean something else: a term inside one does not match (火花塞 is
    a spark plug, not a spark; 不要紧 is "never mind", not a negation).
    """

    categories: dict[str, tuple[CategoryRule, ...]]
    severity: SeverityRules = SeverityRules()
    extra_categories: frozenset[str] = frozenset()
    negations: tuple[_Word, ...] = ()
    not_within: tuple[_Word, ...] = ()

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
            negations=tuple(dict.fromkeys(self.negations + extra.negations)),
            not_within=tuple(dict.fromkeys(self.not_within + extra.not_within)),
        )


_NEGATION_REACH = 20
"""Characters between a negation and the word it cancels, at most ("不要退款",
"don't want a refund")."""
_SEVERITY_NEGATION_REACH = {Kind.ZH: 1}
"""The same for a severity signal: only right after the negation ("没有冒烟", "did not
catch fire": 12 characters, 1 in Chinese); a safety signal is better raised once too often."""
_SEVERITY_NEGATION_REACH_WORDS = 12
_SCOPE_ENDS = ("but", "however", "instead", "但", "而是", "可是", "只想", "只要")
"""Words that end a negation's reach like punctuation does ("不要退款，而是换货")."""


@attrs.frozen
class _Rule:
    category: str
    weight: float
    unless: frozenset[int]
    needs: frozenset[int]


_Hit = tuple[int, int, int, str]
"""A category term found in the text: start, end, rule number, label (how the evidence
names it). Plain tuples: a message makes dozens, and tuples cost a twentieth of a class."""


class RuleClassifier:
    """Bilingual keyword rules. Fast (tens of thousands a second), explainable (the
    evidence lists what matched; a word cancelled by a negation shows as ``not:word``), and
    editable as data.

    >>> classifier = RuleClassifier()
    >>> result = classifier.classify("洗衣机漏电，还冒烟了！")
    >>> result.category, result.severity.value, result.evidence
    ('repair_warranty', 'critical', ('zh:漏电', 'zh:冒烟', 'severity:漏电'))
    """

    def __init__(self, rules: ClassifierRules | Mapping[str, Any] | None = None) -> None:
        from aftersales.routing.default_rules import DEFAULT_RULES

        if rules is None:
            rules = DEFAULT_RULES
        elif not isinstance(rules, ClassifierRules):
            rules = ClassifierRules.model_validate(rules)
        self.rules = rules
        lexicon = self._lexicon = Lexicon()
        self._rules: list[_Rule] = []
        self._uses: dict[int, list[tuple[int, str]]] = {}
        for category, category_rules in rules.categories.items():
            for rule in category_rules:
                number = len(self._rules)
                self._rules.append(
                    _Rule(
                        category,
                        rule.weight,
                        frozenset(lexicon.add(term) for term in rule.unless),
                        frozenset(lexicon.add(term) for term in rule.needs),
                    )
                )
                for terms, kind, prefix in (
                    (rule.words, Kind.WORD, ""),
                    (rule.stems, Kind.STEM, ""),
                    (rule.phrases, Kind.PHRASE, ""),
                    (rule.zh, Kind.ZH, "zh:"),
                ):
                    for term in terms:
                        uses = self._uses.setdefault(lexicon.add(term, kind), [])
                        uses.append((number, prefix + term))
        # rule number -> (unless, needs), for the rules that have either
        self._conditions = {
            number: (rule.unless, rule.needs)
            for number, rule in enumerate(self._rules)
            if rule.unless or rule.needs
        }
        self._negations = {lexicon.add(term): _NEGATION_REACH for term in rules.negations}
        self._scope_ends = frozenset(lexicon.add(term) for term in _SCOPE_ENDS)
        self._compounds = frozenset(lexicon.add(term) for term in rules.not_within)
        severity = rules.severity
        self._signals: dict[int, tuple[Severity, str]] = {}
        for level, terms in (
            (Severity.HIGH, severity.high),
            (Severity.CRITICAL, severity.critical),
        ):
            self._signals.update((lexicon.add(term), (level, term)) for term in terms)
        self._signal_levels = {
            f"severity:{label}": level for level, label in self._signals.values()
        }
        self._severity_negations = {
            number: _SEVERITY_NEGATION_REACH.get(
                lexicon.kind(number), _SEVERITY_NEGATION_REACH_WORDS
            )
            for number in [lexicon.add(term) for term in severity.negations] + list(self._negations)
        }
        # sets of the terms, for set operations (a dict would be iterated key by key)
        self._signal_terms = frozenset(self._signals)
        self._negation_terms = frozenset(self._negations)
        self._severity_negation_terms = frozenset(self._severity_negations)
        self._any_negation = self._negation_terms | self._severity_negation_terms

    def classify(self, text: str, context: InquiryContext | None = None) -> Classification:
        if not isinstance(text, str):
            raise InvalidInput("inquiry", [FieldError(("text",), "must be a string")])
        clean = normalise(text[:MAX_TEXT])
        if not clean.strip():
            return Classification("other", self.rules.severity.default, 0.0, ("empty",))
        matches = self._lexicon.find(clean, word_spans(clean))
        found = {term for _, _, term in matches}
        if not found.isdisjoint(self._compounds):
            matches = self._outside_compounds(matches)
            found = {term for _, _, term in matches}
        uses = self._uses
        hits: list[_Hit] = [
            (start, end, number, label)
            for start, end, term in matches
            if term in uses
            for number, label in uses[term]
        ]
        scopes = (
            None
            if found.isdisjoint(self._negation_terms)
            else _Scopes(clean, matches, self._any_negation, self._scope_ends, hits)
        )
        scores: dict[str, float] = {}
        evidence: list[tuple[int, str]] = []
        counted: dict[str, list[_Hit]] = {}
        rules = self._rules
        conditions = self._conditions
        kept = []
        for hit in hits:  # the rules' conditions, inline: a call a hit costs more
            condition = conditions.get(hit[2])
            if condition is not None and not (
                condition[0].isdisjoint(found)
                and (not condition[1] or not condition[1].isdisjoint(found))
            ):
                continue
            kept.append(hit)
        hits = kept
        # A term inside a longer one is the longer one's: 可以 in 可以换, 连接 in 连接不上.
        inside = _inside_longer(hits) if hits else set()
        # Longest first: "cancellation fee" is one piece of evidence, not also "fee".
        for hit in sorted(hits, key=_longest_first):
            start, end, number, label = hit
            if inside and (start, end) in inside:
                continue
            rule = rules[number]
            same = counted.get(rule.category)
            if same is None:
                same = counted[rule.category] = []
            elif _clashes(hit, same):
                continue  # each piece of evidence counts once
            same.append(hit)
            if scopes is not None and scopes.negated(start, self._negations):
                evidence.append((start, f"not:{label}"))
                continue
            scores[rule.category] = scores.get(rule.category, 0.0) + rule.weight
            evidence.append((start, label))
        if scores:
            ranked = sorted(
                scores.items(), key=lambda item: (-item[1], _TIE_ORDER.get(item[0], 99))
            )
            category, best = ranked[0]
            second = ranked[1][1] if len(ranked) > 1 else 0.0
            confidence = round(best / (best + second + 1.0), 3)
        else:
            category, confidence = "other", 0.0
        evidence.sort(key=_first)  # by where each piece starts
        labels = list(dict.fromkeys([label for _, label in evidence]))
        if not found.isdisjoint(self._signal_terms):
            if scopes is None and not found.isdisjoint(self._severity_negation_terms):
                scopes = _Scopes(clean, matches, self._any_negation, self._scope_ends, hits)
            self._signal(matches, scopes, labels)
        severity = self._severity(category, context, labels)
        return Classification(category, severity, confidence, tuple(labels))

    def _outside_compounds(self, matches: list[Match]) -> list[Match]:
        """``matches`` without those inside a longer word of ``not_within``."""
        compounds = self._compounds
        outer = _Spans([(start, end) for start, end, term in matches if term in compounds])
        return [
            (start, end, term)
            for start, end, term in matches
            if term in compounds or not outer.contain(start, end)
        ]

    def _signal(self, matches: list[Match], scopes: _Scopes | None, evidence: list[str]) -> None:
        """Add the first critical and the first high severity signal (unless negated) to
        the evidence."""
        seen: set[Severity] = set()
        for start, _, term in matches:
            signal = self._signals.get(term)
            if signal is None or signal[0] in seen:
                continue
            if scopes is not None and scopes.negated(start, self._severity_negations):
                continue
            seen.add(signal[0])
            evidence.append(f"severity:{signal[1]}")

    def _severity(
        self, category: str, context: InquiryContext | None, evidence: list[str]
    ) -> Severity:
        rules = self.rules.severity
        signalled = {self._signal_levels[e] for e in evidence if e in self._signal_levels}
        if Severity.CRITICAL in signalled:
            return Severity.CRITICAL
        severity = Severity.LOW if category in rules.low_for else rules.default
        if Severity.HIGH in signalled:
            severity = Severity.HIGH
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


class _Scopes:
    """Where negations are and what ends a clause, to tell whether a negation reaches a
    word: the negation comes before it in the same clause, close enough. A negation that
    is part of a longer category term is that term's, not a negation ("不想要了" asks for a
    return)."""

    def __init__(
        self,
        clean: str,
        matches: list[Match],
        negations: frozenset[int],
        scope_ends: frozenset[int],
        hits: list[_Hit],
    ) -> None:
        self._clean = clean
        ends = []
        candidates = []
        for match in matches:  # one loop for both: a comprehension is a call of its own
            if match[2] in negations:
                candidates.append(match)
            if match[2] in scope_ends:
                ends.append(match[0])
        self._scope_ends = sorted(ends)
        terms = _Spans([(start, end) for start, end, _, _ in hits])
        self._negations = [
            (start, end, term) for start, end, term in candidates if not terms.contain(start, end)
        ]

    def negated(self, at: int, negations: Mapping[int, int]) -> bool:
        """Whether one of ``negations`` (term → how many characters it reaches) reaches a
        word that starts ``at``."""
        for start, end, term in self._negations:
            reach = negations.get(term)
            # before the word, or running into it: 不要 in 不要退 (a term 要退) negates it
            if reach is None or start >= at or at - end > reach:
                continue
            # Only the few negations close enough look for the end of their clause: cheaper
            # than listing every clause break of the text.
            if clause_break_in(self._clean, end, at) or self._scope_ended(end, at):
                continue  # the clause ended in between
            return True
        return False

    def _scope_ended(self, start: int, stop: int) -> bool:
        """Whether a word that ends a negation's reach ("but", "而是") starts in
        ``start:stop``."""
        after = bisect_left(self._scope_ends, start)
        return after < len(self._scope_ends) and self._scope_ends[after] < stop


class _Spans:
    """Spans of the text, to ask whether one of them contains a shorter span."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self._spans = sorted(spans)
        self._starts = [start for start, _ in self._spans]
        self._longest = max([end - start for start, end in spans], default=0)

    def contain(self, start: int, end: int) -> bool:
        """Whether a longer span contains ``start:end`` (only spans that start at most
        ``longest`` before it can: a 20,000-character text stays linear)."""
        first = bisect_left(self._starts, start - self._longest)
        last = bisect_right(self._starts, start)
        # a loop: any() and a generator cost more than the few spans here
        for outer_start, outer_end in self._spans[first:last]:
            if outer_end >= end and outer_end - outer_start > end - start:
                return True
        return False


def _inside_longer(hits: list[_Hit]) -> set[tuple[int, int]]:
    """The spans of ``hits`` that a longer one contains (one sweep over them by start)."""
    inside = set()
    reach = -1
    # by start, then longest first: (start, -end) sorts without a key function
    for start, negative_end in sorted({(hit[0], -hit[1]) for hit in hits}):
        if -negative_end <= reach:  # an earlier span starts no later, ends no sooner: longer
            inside.add((start, -negative_end))
        else:
            reach = -negative_end
    return inside


_first = itemgetter(0)


def _longest_first(hit: _Hit) -> tuple[int, int]:
    return hit[0] - hit[1], hit[0]


def _clashes(hit: _Hit, counted: list[_Hit]) -> bool:
    """Whether ``hit`` repeats or overlaps evidence already counted for its category."""
    start, end, _, label = hit
    for other in counted:  # noqa: SIM110 - a loop costs less than any() and a generator here
        if label == other[3] or (start < other[1] and other[0] < end):
            return True
    return False
