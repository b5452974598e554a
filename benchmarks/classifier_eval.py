"""Score a classifier on a labelled CSV and fail below the targets.

The scoring is the library's (:func:`aftersales.routing.evaluation.evaluate`); this script
only reads the data sets, sets the targets and prints the figures. Bitext (scoring rules
and provenance in tests/data/bitext/README.md): strict accuracy and macro-F1 on ``direct``
rows, lenient accuracy on ``direct`` + ``analog``, the false-positive rate on ``none`` rows
(given anything but ``other``), a confusion matrix. The repository carries a 2,257-row
sample (tests/data/bitext/bitext_eval_sample.csv); the full set is Bitext's upstream CSV,
which this script maps with label_mapping.json (see ``full_bitext_help``). A CSV without
a ``fit`` column (our Chinese set, data/zh_inquiries.csv) counts every row as direct, its
``other`` rows as the false-positive rows, and scores severity too.

A CSV of ours needs the columns ``text`` and ``category`` (``aftersales_category`` also
reads), optionally ``severity`` (then the recall of each severity level is scored) and
``fit``. CLINC150's ``data_full.json`` (an intent set in which almost nothing is an
after-sales request) is read too, as ``data_full.json:train`` or ``data_full.json:test``
(the split, default ``test``): the out-of-scope rows and those of every intent that is not
in ``CLINC_AFTERSALES`` (banking, travel, small talk...) count as false-positive rows; the
few intents that read like a shop's request are set aside as ``analog``.

Run: python benchmarks/classifier_eval.py [CSV or data_full.json[:split] ...]
  without one: the full Bitext set ($AFTERSALES_BITEXT, else
  ../shared/data/bitext/bitext_eval.csv) and the Chinese sets (data/zh_*.csv).
Exit: 0 at or above the targets, 1 below them, 2 when a data file is missing or unreadable.
Targets: strict accuracy >= 0.90 (when a set has direct rows), false-positive rate <= 0.15
(<= 0.08 on CLINC150, a set with no after-sales meaning).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import cast

import attrs

from aftersales.exceptions import InvalidInput
from aftersales.routing import CATEGORIES, Classifier, RuleClassifier, evaluation, model
from aftersales.routing.evaluation import Evaluation
from aftersales.routing.model import Fit, LabelledRow

HERE = Path(__file__).parent
BITEXT_DATA = HERE.parent / "tests" / "data" / "bitext"
BITEXT_SAMPLE = BITEXT_DATA / "bitext_eval_sample.csv"
LABEL_MAPPING = BITEXT_DATA / "label_mapping.json"
BITEXT = HERE.parent.parent / "shared" / "data" / "bitext" / "bitext_eval.csv"
"""Where a project checkout next to ours keeps the full, already mapped Bitext set."""
CHINESE = HERE / "data" / "zh_inquiries.csv"
CHINESE_DEV = HERE / "data" / "zh_dev.csv"
CLINC = HERE.parent.parent / "shared" / "data" / "clinc150" / "data_full.json"
"""Where a project checkout next to ours keeps CLINC150 (see its README for the licence)."""
STRICT_TARGET, FALSE_POSITIVE_TARGET = 0.90, 0.15
OUT_OF_SCOPE_TARGET = 0.08
"""Of a set with no after-sales meaning (CLINC150), the share put into a category at most."""
CLINC_AFTERSALES = {
    # Close to a shop's request ("where is my package", "order more paper towels") or
    # reading like one ("my card is damaged"): neither a hit nor a false positive.
    "order_status": "delivery",
    "order": "product_inquiry",
    "damaged_card": "repair_warranty",
    "replacement_card_duration": "exchange",
    "card_declined": "billing_invoice",
}
"""CLINC150 intents with an after-sales reading; every other intent and ``oos`` is ``other``."""
BITEXT_URL = (
    "https://raw.githubusercontent.com/bitext/customer-support-llm-chatbot-training-dataset/"
    "8b6ca3d9559a4a9abab94f7978fae67019215a82/data/train/"
    "Bitext_Sample_Customer_Support_Training_Dataset.csv"
)


def full_bitext_help() -> str:
    """What to do when the full Bitext set is not on this machine: where to get it."""
    looked = os.environ.get("AFTERSALES_BITEXT") or BITEXT
    return f"""\
The full Bitext set is not here (looked for {looked}; set AFTERSALES_BITEXT to choose).
Get Bitext's upstream file (3.6 MB, CDLA-Sharing-1.0, (c) Bitext Innovations):
    curl -LO {BITEXT_URL}
and score it (the script maps its intents with tests/data/bitext/label_mapping.json):
    python benchmarks/classifier_eval.py Bitext_Sample_Customer_Support_Training_Dataset.csv
The 2,257-row sample that ships with the repository scores without a download:
    python benchmarks/classifier_eval.py tests/data/bitext/bitext_eval_sample.csv"""


class DataMissing(Exception):
    """A data file is absent or not in a format this script reads; the message says why."""


def full_bitext() -> Path | None:
    """The full Bitext set if this machine has it: ``$AFTERSALES_BITEXT``, else ``BITEXT``."""
    path = Path(os.environ.get("AFTERSALES_BITEXT") or BITEXT)
    return path if path.is_file() else None


Record = Mapping[str, str]
"""A labelled row as a CSV gives it: ``text``, ``category`` or ``aftersales_category``,
optionally ``severity`` and ``fit``."""


def read_rows(path: Path) -> list[LabelledRow] | list[dict[str, str]]:
    """The labelled rows of ``path``: our CSVs (``text`` and ``category`` or
    ``aftersales_category``; leading ``#`` lines are notes), read by the library's
    :func:`~aftersales.routing.model.read_rows`; Bitext's upstream CSV (``instruction``
    and ``intent``), mapped with ``label_mapping.json``; CLINC150's ``data_full.json``."""
    name, _, split = str(path).partition(":") if _is_clinc(path) else (str(path), "", "")
    path = Path(name)
    if not path.is_file():
        raise DataMissing(f"no such file: {path}")
    if path.suffix == ".json":
        return clinc_rows(path, split or "test")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(_without_notes(handle))
        columns = set(reader.fieldnames or ())
        if {"instruction", "intent"} <= columns:
            return _mapped(list(reader))
    try:
        return model.read_rows(path)
    except InvalidInput as error:
        raise DataMissing(
            f"{error} (expected the columns text and category, or aftersales_category, "
            f"or Bitext's instruction and intent; found {', '.join(sorted(columns)) or 'none'})"
        ) from None


def _is_clinc(path: Path) -> bool:
    return Path(str(path).partition(":")[0]).suffix == ".json"


def clinc_rows(path: Path, split: str) -> list[dict[str, str]]:
    """CLINC150's ``split`` (train, val or test, with its out-of-scope rows) as labelled
    rows: ``fit`` is ``analog`` for the intents that read like a shop's request, ``none``
    (the answer is ``other``) for the rest."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if split not in data or f"oos_{split}" not in data:
        raise DataMissing(f"{path}: no split {split!r} (train, val or test)")
    rows: list[dict[str, str]] = []
    for text, intent in data[split] + data[f"oos_{split}"]:
        category = CLINC_AFTERSALES.get(intent, "other")
        fit = "none" if category == "other" else "analog"
        rows.append(
            {
                "id": str(len(rows)),
                "text": text,
                "source_intent": intent,
                "aftersales_category": category,
                "fit": fit,
            }
        )
    return rows


def _without_notes(lines: Iterable[str]) -> Iterator[str]:
    iterator = iter(lines)
    for line in iterator:
        if not line.startswith("#"):
            yield line
            break
    yield from iterator


def _mapped(upstream: list[dict[str, str]]) -> list[dict[str, str]]:
    mapping = json.loads(LABEL_MAPPING.read_text(encoding="utf-8"))["bitext"]
    rows = []
    for number, row in enumerate(upstream):
        target = mapping.get(row["intent"])
        if target is None:
            raise DataMissing(f"row {number}: intent {row['intent']!r} is not in {LABEL_MAPPING}")
        rows.append(
            {
                "id": str(number),
                "text": row["instruction"],
                "source_category": row.get("category", ""),
                "source_intent": row["intent"],
                "aftersales_category": target["category"],
                "fit": target["fit"],
                "tags": row.get("tags", ""),
            }
        )
    return rows


@attrs.frozen
class Scores:
    """The library's figures of one evaluation, named as this script prints them, and
    whether they meet the targets."""

    evaluation: Evaluation
    false_positive_target: float = FALSE_POSITIVE_TARGET

    @property
    def rows(self) -> int:
        return self.evaluation.rows

    @property
    def direct_rows(self) -> int:
        return self.evaluation.direct_rows

    @property
    def strict_accuracy(self) -> float:
        return self.evaluation.accuracy

    @property
    def macro_f1(self) -> float:
        return self.evaluation.macro_f1

    @property
    def lenient_accuracy(self) -> float:
        return self.evaluation.lenient_accuracy

    @property
    def false_positive_rate(self) -> float:
        """0 when the set has no out-of-scope row."""
        return self.evaluation.false_positive_rate or 0.0

    @property
    def severity_accuracy(self) -> float | None:
        return self.evaluation.severity_accuracy

    @property
    def severity_recall(self) -> dict[str, float]:
        """Of the rows labelled with each severity, the share given that severity."""
        return self.evaluation.severity_recall

    @property
    def false_positives(self) -> dict[str, int]:
        """How often each category was given to a row whose answer is ``other``."""
        return self.evaluation.false_positives

    @property
    def confusion(self) -> dict[tuple[str, str], int]:
        return self.evaluation.confusion

    @property
    def passed(self) -> bool:
        return (
            self.direct_rows == 0 or self.strict_accuracy >= STRICT_TARGET
        ) and self.false_positive_rate <= self.false_positive_target


def evaluate(
    rows: Iterable[LabelledRow | Record],
    classifier: Classifier | None = None,
    false_positive_target: float = FALSE_POSITIVE_TARGET,
) -> Scores:
    """Score ``classifier`` (the built-in rules by default) on labelled rows, with the
    library's :func:`~aftersales.routing.evaluation.evaluate`."""
    labelled = [row if isinstance(row, LabelledRow) else _labelled(row) for row in rows]
    return Scores(
        evaluation.evaluate(classifier or RuleClassifier(), labelled),
        false_positive_target=false_positive_target,
    )


def _labelled(record: Record) -> LabelledRow:
    """A CSV record (ours, or one the Bitext and CLINC150 readers made) as the library's
    row: a ``none`` row's answer is ``other``."""
    fit = record.get("fit") or None
    category = record.get("aftersales_category") or record["category"]
    return LabelledRow(
        record["text"],
        "other" if fit == "none" else category,
        record.get("severity") or None,
        cast("Fit | None", fit),
    )


def render(name: str, scores: Scores) -> str:
    lines = [
        f"== {name}: {scores.rows} rows",
        f"   strict accuracy {scores.strict_accuracy:.4f} (target >= {STRICT_TARGET}), "
        f"macro-F1 {scores.macro_f1:.4f}, lenient accuracy {scores.lenient_accuracy:.4f}",
        f"   false-positive rate {scores.false_positive_rate:.4f} "
        f"(target <= {scores.false_positive_target})"
        + (
            f", severity accuracy {scores.severity_accuracy:.4f}"
            if scores.severity_accuracy is not None
            else ""
        ),
    ]
    if scores.severity_recall:
        lines.append(
            "   severity recall: "
            + ", ".join(f"{level} {recall:.2f}" for level, recall in scores.severity_recall.items())
        )
    if scores.false_positives:
        lines.append(
            "   false positives by category: "
            + ", ".join(f"{name} {count}" for name, count in scores.false_positives.items())
        )
    lines.append("   confusion (gold → predicted, direct rows):")
    golds = sorted({g for g, _ in scores.confusion})
    predicted = [c for c in CATEGORIES if any(p == c for _, p in scores.confusion)]
    lines.append("   " + " " * 16 + "".join(f"{p[:8]:>9}" for p in predicted))
    for gold in golds:
        cells = "".join(f"{scores.confusion.get((gold, p), 0):>9}" for p in predicted)
        lines.append(f"   {gold[:16]:16}{cells}")
    lines.append("   " + ("OK" if scores.passed else "BELOW TARGET"))
    return "\n".join(lines)


def main(paths: list[str]) -> int:
    """Score each CSV (the full Bitext set and the Chinese set by default); 0 if every one
    meets the targets, 1 if one is below them, 2 if a file is missing or unreadable."""
    if paths:
        targets = [Path(p) for p in paths]
    else:
        full = full_bitext()
        if full is None:
            print(full_bitext_help(), file=sys.stderr)
            return 2
        targets = [full, CHINESE, CHINESE_DEV]
    ok = True
    for path in targets:
        try:
            rows = read_rows(path)
        except DataMissing as error:
            print(f"classifier_eval: {error}", file=sys.stderr)
            return 2
        target = OUT_OF_SCOPE_TARGET if _is_clinc(path) else FALSE_POSITIVE_TARGET
        scores = evaluate(rows, false_positive_target=target)
        print(render(path.name, scores))
        ok &= scores.passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
