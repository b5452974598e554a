"""Scoring any classifier on labelled rows: the figures issue 21 asks for.

Per category precision and recall, accuracy on ``direct`` rows (strict) and on ``direct``
and ``analog`` rows (lenient), recall of each severity level, the false-positive rate on
out-of-scope rows (gold ``other`` given an after-sales category) and throughput.

>>> from aftersales.routing import RuleClassifier
>>> from aftersales.routing.model import LabelledRow
>>> scores = evaluate(RuleClassifier(), [LabelledRow("我要退款", "return_refund")])
>>> scores.accuracy
1.0
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from aftersales.models.ticket import Severity

if TYPE_CHECKING:
    from aftersales.routing.classify import Classifier
    from aftersales.routing.model import LabelledRow

__all__ = ["Evaluation", "evaluate", "render"]

_LEVELS = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)


@attrs.frozen
class Evaluation:
    """The figures of one classifier on one set of rows."""

    rows: int
    accuracy: float
    """Share of ``direct`` rows given their category (strict accuracy)."""
    lenient_accuracy: float
    precision: dict[str, float]
    recall: dict[str, float]
    support: dict[str, int]
    severity_recall: dict[str, float]
    severity_support: dict[str, int]
    false_positive_rate: float | None
    """Share of out-of-scope rows (gold ``other``) given an after-sales category; None
    without such rows."""
    out_of_scope_rows: int
    messages_per_second: float
    confusion: dict[tuple[str, str], int]


def evaluate(classifier: Classifier, rows: Iterable[LabelledRow]) -> Evaluation:
    """Classify every row with ``classifier`` and score the answers."""
    answers = []
    rows = list(rows)
    start = time.perf_counter()
    for row in rows:
        answers.append(classifier.classify(row.text))
    elapsed = time.perf_counter() - start
    direct = [
        (r.category, a.category) for r, a in zip(rows, answers, strict=True) if r.fit == "direct"
    ]
    lenient = [
        (r.category, a.category) for r, a in zip(rows, answers, strict=True) if r.fit != "none"
    ]
    categories = sorted({gold for gold, _ in direct} | {got for _, got in direct})
    precision, recall, support = {}, {}, {}
    for category in categories:
        predicted = [gold for gold, got in direct if got == category]
        actual = [got for gold, got in direct if gold == category]
        support[category] = len(actual)
        precision[category] = _share(predicted, category)
        recall[category] = _share(actual, category)
    severity_recall, severity_support = {}, {}
    for level in _LEVELS:
        answered = [a.severity for r, a in zip(rows, answers, strict=True) if r.severity == level]
        if answered:
            severity_support[level.value] = len(answered)
            severity_recall[level.value] = sum(s == level for s in answered) / len(answered)
    out_of_scope = [a.category for r, a in zip(rows, answers, strict=True) if r.category == "other"]
    return Evaluation(
        rows=len(rows),
        accuracy=_agreement(direct),
        lenient_accuracy=_agreement(lenient),
        precision=precision,
        recall=recall,
        support=support,
        severity_recall=severity_recall,
        severity_support=severity_support,
        false_positive_rate=(
            sum(c != "other" for c in out_of_scope) / len(out_of_scope) if out_of_scope else None
        ),
        out_of_scope_rows=len(out_of_scope),
        messages_per_second=len(rows) / elapsed if elapsed > 0 else float("inf"),
        confusion=dict(Counter(direct)),
    )


def _share(values: list[str], wanted: str) -> float:
    return sum(v == wanted for v in values) / len(values) if values else 0.0


def _agreement(pairs: list[tuple[str, str]]) -> float:
    return sum(gold == got for gold, got in pairs) / len(pairs) if pairs else 0.0


def render(name: str, scores: Evaluation) -> str:
    """The figures as a plain-text table."""
    fpr = (
        f"{scores.false_positive_rate:.4f} of {scores.out_of_scope_rows}"
        if scores.false_positive_rate is not None
        else "n/a (no other rows)"
    )
    lines = [
        f"== {name}: {scores.rows} rows",
        f"accuracy {scores.accuracy:.4f}  lenient {scores.lenient_accuracy:.4f}  "
        f"out-of-scope false positives {fpr}  {scores.messages_per_second:,.0f} messages/s",
        f"{'category':18}{'precision':>10}{'recall':>8}{'rows':>6}",
    ]
    for category in scores.recall:
        lines.append(
            f"{category:18}{scores.precision[category]:>10.3f}"
            f"{scores.recall[category]:>8.3f}{scores.support[category]:>6}"
        )
    if scores.severity_recall:
        lines.append(
            "severity recall: "
            + "  ".join(
                f"{level} {value:.3f} ({scores.severity_support[level]})"
                for level, value in scores.severity_recall.items()
            )
        )
    return "\n".join(lines)
