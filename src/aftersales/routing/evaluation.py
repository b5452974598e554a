"""Scoring any classifier on labelled rows: the figures issue 21 asks for.

Per category precision and recall, accuracy and macro-F1 on ``direct`` rows (strict) and
accuracy on ``direct`` and ``analog`` rows (lenient), recall of each severity level, the
false-positive rate on out-of-scope rows (given an after-sales category) and throughput.

Which rows are which follows each row's fit (:data:`~aftersales.routing.model.Fit`), the
rules of the Bitext files (tests/data/bitext/README.md): ``direct`` rows are scored
strictly, ``analog`` rows only leniently, and the out-of-scope rows are the ``none`` rows.
A row without a fit (a set that does not grade it, like our Chinese CSVs) counts as
``direct``, and as out of scope when its category is ``other``.

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
    from aftersales.routing.model import Row

__all__ = ["Evaluation", "evaluate", "render"]

_LEVELS = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)


@attrs.frozen
class Evaluation:
    """The figures of one classifier on one set of rows."""

    rows: int
    direct_rows: int
    accuracy: float
    """Share of ``direct`` rows given their category (strict accuracy)."""
    macro_f1: float
    """Mean over the gold categories of the ``direct`` rows of each one's F1."""
    lenient_accuracy: float
    precision: dict[str, float]
    recall: dict[str, float]
    support: dict[str, int]
    severity_recall: dict[str, float]
    severity_support: dict[str, int]
    severity_accuracy: float | None
    """Share of the rows labelled with a severity given that severity; None without."""
    false_positive_rate: float | None
    """Share of out-of-scope rows given an after-sales category; None without such rows."""
    out_of_scope_rows: int
    false_positives: dict[str, int]
    """How often each category was given to an out-of-scope row, most often first."""
    messages_per_second: float
    confusion: dict[tuple[str, str], int]


def evaluate(classifier: Classifier, rows: Iterable[Row]) -> Evaluation:
    """Classify every row with ``classifier`` and score the answers. ``rows`` are what
    :func:`~aftersales.routing.model.train_classifier` reads (``LabelledRow`` or
    ``(text, category[, severity])`` tuples); InvalidInput naming an unusable one."""
    from aftersales.routing.model import labelled_rows

    checked = labelled_rows(rows, "evaluation data")
    start = time.perf_counter()
    answers = [classifier.classify(row.text) for row in checked]
    elapsed = time.perf_counter() - start
    pairs = list(zip(checked, answers, strict=True))
    direct = [(r.category, a.category) for r, a in pairs if r.graded == "direct"]
    lenient = [(r.category, a.category) for r, a in pairs if r.graded != "none"]
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
        answered = [a.severity for r, a in pairs if r.severity == level]
        if answered:
            severity_support[level.value] = len(answered)
            severity_recall[level.value] = sum(s == level for s in answered) / len(answered)
    severity_right = [a.severity == r.severity for r, a in pairs if r.severity is not None]
    out_of_scope = [a.category for r, a in pairs if r.out_of_scope]
    return Evaluation(
        rows=len(checked),
        direct_rows=len(direct),
        accuracy=_agreement(direct),
        macro_f1=_macro_f1(direct),
        lenient_accuracy=_agreement(lenient),
        precision=precision,
        recall=recall,
        support=support,
        severity_recall=severity_recall,
        severity_support=severity_support,
        severity_accuracy=(sum(severity_right) / len(severity_right) if severity_right else None),
        false_positive_rate=(
            sum(c != "other" for c in out_of_scope) / len(out_of_scope) if out_of_scope else None
        ),
        out_of_scope_rows=len(out_of_scope),
        false_positives=dict(Counter(c for c in out_of_scope if c != "other").most_common()),
        messages_per_second=len(checked) / elapsed if elapsed > 0 else float("inf"),
        confusion=dict(Counter(direct)),
    )


def _macro_f1(pairs: list[tuple[str, str]]) -> float:
    scores = []
    for label in sorted({gold for gold, _ in pairs}):
        hits = sum(gold == got == label for gold, got in pairs)
        answered = sum(got == label for _, got in pairs)
        actual = sum(gold == label for gold, _ in pairs)
        precision = hits / answered if answered else 0.0
        recall = hits / actual if actual else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


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
        f"accuracy {scores.accuracy:.4f}  macro-F1 {scores.macro_f1:.4f}  "
        f"lenient {scores.lenient_accuracy:.4f}  "
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
