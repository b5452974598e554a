"""Score a classifier on a labelled CSV and fail below the targets.

Bitext (../shared/data/bitext/bitext_eval.csv, scoring rules in its README): strict
accuracy and macro-F1 on ``direct`` rows, lenient accuracy on ``direct`` + ``analog``, the
false-positive rate on ``none`` rows (given anything but ``other``), a confusion matrix.
A CSV without a ``fit`` column (our Chinese set, data/zh_inquiries.csv) counts every row
as direct, its ``other`` rows as the false-positive rows, and scores severity too.

Run: python benchmarks/classifier_eval.py [CSV ...]   (exit 1 below the targets)
Targets: strict accuracy >= 0.90, false-positive rate <= 0.15.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import attrs

from aftersales.routing import CATEGORIES, Classifier, RuleClassifier

HERE = Path(__file__).parent
BITEXT = HERE.parent.parent / "shared" / "data" / "bitext" / "bitext_eval.csv"
CHINESE = HERE / "data" / "zh_inquiries.csv"
STRICT_TARGET, FALSE_POSITIVE_TARGET = 0.90, 0.15


@attrs.frozen
class Scores:
    """The figures of one evaluation."""

    rows: int
    strict_accuracy: float
    macro_f1: float
    lenient_accuracy: float
    false_positive_rate: float
    severity_accuracy: float | None
    confusion: dict[tuple[str, str], int]

    @property
    def passed(self) -> bool:
        return (
            self.strict_accuracy >= STRICT_TARGET
            and self.false_positive_rate <= FALSE_POSITIVE_TARGET
        )


def evaluate(rows: Iterable[dict[str, str]], classifier: Classifier | None = None) -> Scores:
    """Score ``classifier`` (the built-in rules by default) on labelled rows."""
    classifier = classifier or RuleClassifier()
    direct: list[tuple[str, str]] = []
    lenient: list[tuple[str, str]] = []
    none: list[str] = []
    severities: list[bool] = []
    total = 0
    for row in rows:
        total += 1
        gold = row.get("aftersales_category") or row["category"]
        fit = row.get("fit", "direct")
        result = classifier.classify(row["text"])
        if row.get("severity"):
            severities.append(result.severity.value == row["severity"])
        if fit == "none" or ("fit" not in row and gold == "other"):
            none.append(result.category)
        if fit == "direct":
            direct.append((gold, result.category))
        if fit in ("direct", "analog"):
            lenient.append((gold, result.category))
    confusion = Counter(direct)
    return Scores(
        rows=total,
        strict_accuracy=_accuracy(direct),
        macro_f1=_macro_f1(direct),
        lenient_accuracy=_accuracy(lenient),
        false_positive_rate=sum(c != "other" for c in none) / len(none) if none else 0.0,
        severity_accuracy=sum(severities) / len(severities) if severities else None,
        confusion=dict(confusion),
    )


def _accuracy(pairs: list[tuple[str, str]]) -> float:
    return sum(gold == got for gold, got in pairs) / len(pairs) if pairs else 0.0


def _macro_f1(pairs: list[tuple[str, str]]) -> float:
    labels = sorted({gold for gold, _ in pairs})
    scores = []
    for label in labels:
        tp = sum(gold == got == label for gold, got in pairs)
        fp = sum(got == label != gold for gold, got in pairs)
        fn = sum(gold == label != got for gold, got in pairs)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def render(name: str, scores: Scores) -> str:
    lines = [
        f"== {name}: {scores.rows} rows",
        f"   strict accuracy {scores.strict_accuracy:.4f} (target >= {STRICT_TARGET}), "
        f"macro-F1 {scores.macro_f1:.4f}, lenient accuracy {scores.lenient_accuracy:.4f}",
        f"   false-positive rate {scores.false_positive_rate:.4f} "
        f"(target <= {FALSE_POSITIVE_TARGET})"
        + (
            f", severity accuracy {scores.severity_accuracy:.4f}"
            if scores.severity_accuracy is not None
            else ""
        ),
        "   confusion (gold → predicted, direct rows):",
    ]
    golds = sorted({g for g, _ in scores.confusion})
    predicted = [c for c in CATEGORIES if any(p == c for _, p in scores.confusion)]
    lines.append("   " + " " * 16 + "".join(f"{p[:8]:>9}" for p in predicted))
    for gold in golds:
        cells = "".join(f"{scores.confusion.get((gold, p), 0):>9}" for p in predicted)
        lines.append(f"   {gold[:16]:16}{cells}")
    lines.append("   " + ("OK" if scores.passed else "BELOW TARGET"))
    return "\n".join(lines)


def main(paths: list[str]) -> int:
    targets = [Path(p) for p in paths] or [BITEXT, CHINESE]
    ok = True
    for path in targets:
        with path.open(encoding="utf-8", newline="") as handle:
            scores = evaluate(csv.DictReader(handle))
        print(render(path.name, scores))
        ok &= scores.passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
