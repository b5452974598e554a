"""A trained classifier (extra ``aftersales[ml]``): character n-gram TF-IDF and a linear
model, calibrated probabilities, and abstention learned from out-of-scope text.

>>> from aftersales.routing.model import train_classifier
>>> rows = [("我要退货", "return_refund", "medium"), ("快递还没到", "delivery", "medium"),
...         ("今天天气怎么样", "other", "low")] * 4
>>> model = train_classifier(rows)
>>> model.classify("退货").category
'return_refund'

Training needs scikit-learn (``pip install "aftersales[ml]"``); a saved model predicts
with numpy alone. The file format is JSON and npz, never pickle: see :meth:`ModelClassifier.load`.
"""

from __future__ import annotations

import csv
import heapq
import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import attrs

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models.ticket import Severity
from aftersales.routing._model_features import ngrams, normalise
from aftersales.routing._model_file import ModelParameters, load, save
from aftersales.routing._model_train import TrainingOptions
from aftersales.routing.classify import Classification, Classifier, InquiryContext

if TYPE_CHECKING:
    from aftersales.routing.classify import RuleClassifier

__all__ = [
    "MISSING_EXTRA",
    "CombinedClassifier",
    "Fit",
    "LabelledRow",
    "ModelClassifier",
    "Row",
    "SeverityFrom",
    "TrainingOptions",
    "labelled_rows",
    "read_rows",
    "train_classifier",
]

MISSING_EXTRA = 'the trained classifier needs the ml extra: pip install "aftersales[ml]"'
SeverityFrom = Literal["model", "rules", "max"]
_SEVERITY_FROM = ("model", "rules", "max")
"""Where a classification's severity comes from: the model's severity head (the default;
the rules when the model has none), the rules, or the higher of the two."""
_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}
_EVIDENCE = 3
"""N-grams shown as evidence: the ones that pushed hardest toward the answer."""


def _require(*modules: str) -> None:
    """Import the ml extra's modules now; ImportError naming the extra when one is missing."""
    import importlib

    try:
        for module in modules:
            importlib.import_module(module)
    except ImportError as error:
        raise ImportError(MISSING_EXTRA) from error


Fit = Literal["direct", "analog", "none"]
"""How well a row's label fits its text, as the Bitext files grade it: ``direct`` (the same
meaning), ``analog`` (close, scored only leniently) or ``none`` (no after-sales
counterpart: the answer is ``other`` and the row is out of scope)."""
_FITS = ("direct", "analog", "none")


def _refuse_row(field: str, message: str) -> InvalidInput:
    return InvalidInput("labelled row", [FieldError((field,), message)])


def _severity(value: Severity | str | None) -> Severity | None:
    if value is None or isinstance(value, Severity):
        return value
    if isinstance(value, str) and value in Severity._value2member_map_:
        return Severity(value)
    known = ", ".join(level.value for level in Severity)
    raise _refuse_row("severity", f"unknown severity {value!r} ({known}, or none)")


def _check_text(_row: object, _field: object, value: str) -> None:
    if not isinstance(value, str):
        raise _refuse_row("text", "must be a string")


def _check_category(_row: object, _field: object, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise _refuse_row("category", "must be a non-empty string")


def _check_fit(_row: object, _field: object, value: Fit | None) -> None:
    if value is not None and value not in _FITS:
        raise _refuse_row("fit", f"must be one of {', '.join(_FITS)} or None, not {value!r}")


@attrs.frozen
class LabelledRow:
    """One labelled message: text, category, severity (optional; a severity's name reads
    too) and, when the data grades it, how well the label fits (:data:`Fit`).

    Without a fit (``None``, a set that does not grade it) the row counts as ``direct``,
    and it is out of scope when its category is ``other``. With one, only ``none`` rows
    are out of scope, as Bitext's scoring rules have it. InvalidInput on construction
    when a field is unusable."""

    text: str = attrs.field(validator=_check_text)
    category: str = attrs.field(validator=_check_category)
    severity: Severity | None = attrs.field(default=None, converter=_severity)
    fit: Fit | None = attrs.field(default=None, validator=_check_fit)

    @property
    def graded(self) -> Fit:
        """The row's fit, ``direct`` when the data does not grade it."""
        return self.fit or "direct"

    @property
    def out_of_scope(self) -> bool:
        """Whether the row has no after-sales meaning: a ``none`` row, or an ``other``
        row of a set that does not grade fit."""
        return self.fit == "none" if self.fit else self.category == "other"


Row = LabelledRow | tuple[str, str] | tuple[str, str, Severity | str | None]
"""A row :func:`train_classifier` and :func:`~aftersales.routing.evaluation.evaluate`
read: a :class:`LabelledRow` or a ``(text, category[, severity])`` tuple."""


def labelled_rows(rows: Iterable[Row], what: str = "training data") -> list[LabelledRow]:
    """``rows`` as :class:`LabelledRow` objects; InvalidInput naming each unusable row (a
    string, a mapping, a tuple of another length or with a field of the wrong type)."""
    result: list[LabelledRow] = []
    errors: list[FieldError] = []
    for number, row in enumerate(rows):
        if isinstance(row, LabelledRow):
            result.append(row)
            continue
        if not isinstance(row, (tuple, list)) or len(row) not in (2, 3):
            errors.append(
                FieldError(
                    ("rows", number),
                    "must be a LabelledRow or a (text, category[, severity]) tuple, "
                    f"not a {type(row).__name__}"
                    + (f" of {len(row)} items" if isinstance(row, (tuple, list)) else ""),
                )
            )
            continue
        try:
            result.append(LabelledRow(*row))
        except InvalidInput as error:
            errors.extend(
                FieldError(("rows", number, *e.location), e.message) for e in error.errors
            )
    if errors:
        raise InvalidInput(what, errors[:20])
    return result


def read_rows(path: Path | str) -> list[LabelledRow]:
    """The rows of a CSV with ``text`` and ``category`` (or ``aftersales_category``),
    optionally ``severity`` and ``fit`` (an empty cell or no column: not graded); lines
    starting with ``#`` before the header are notes. A ``none`` row's category becomes
    ``other``. InvalidInput naming the file and line when a row is unusable."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            lines = list(handle)
    except FileNotFoundError:
        raise InvalidInput("data", [FieldError((str(path),), "no such file", "missing")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput("data", [FieldError((str(path),), str(error))]) from None
    skipped = 0
    while skipped < len(lines) and lines[skipped].startswith("#"):
        skipped += 1
    reader = csv.DictReader(lines[skipped:])
    columns = set(reader.fieldnames or ())
    label = "category" if "category" in columns else "aftersales_category"
    if "text" not in columns or label not in columns:
        raise InvalidInput(
            "data",
            [FieldError((str(path),), "needs the columns text and category", "missing")],
        )
    rows: list[LabelledRow] = []
    errors: list[FieldError] = []
    try:
        for record in reader:
            line = reader.line_num + skipped
            text, category = record.get("text"), record.get(label)
            severity = (record.get("severity") or "").strip()
            fit = (record.get("fit") or "").strip() or None
            if not text or not category:
                errors.append(FieldError((str(path), line), "text and category must not be empty"))
            elif severity and severity not in Severity._value2member_map_:
                errors.append(FieldError((str(path), line), f"unknown severity {severity!r}"))
            elif fit is not None and fit not in _FITS:
                errors.append(FieldError((str(path), line), f"unknown fit {fit!r}"))
            else:
                rows.append(
                    LabelledRow(
                        text,
                        "other" if fit == "none" else category.strip(),
                        Severity(severity) if severity else None,
                        cast("Fit | None", fit),
                    )
                )
    except csv.Error as error:
        errors.append(FieldError((str(path),), f"is not valid CSV: {error}"))
    if errors:
        raise InvalidInput("data", errors[:20])
    return rows


def train_classifier(
    rows: Iterable[Row],
    options: TrainingOptions | None = None,
) -> ModelClassifier:
    """Train a model on labelled rows (``LabelledRow`` or ``(text, category[, severity])``
    tuples; anything else is refused, see :func:`labelled_rows`).

    Rows labelled ``other`` teach abstention: give it text that is not yours (the
    evaluation used CLINC150's and CrossWOZ's). Severity is learned from the rows that
    have one. Deterministic: the same rows and options give the same model.
    InvalidInput when the rows cannot train a model (a malformed row, a category with one
    row, fewer than two categories, no row with a character to learn from).
    """
    _require("numpy", "sklearn")
    from aftersales.routing._model_train import fit

    checked = labelled_rows(rows)
    texts = [row.text for row in checked]
    categories = [row.category for row in checked]
    severities = [row.severity.value if row.severity else None for row in checked]
    errors = _too_few(categories, "category") + _too_few([s for s in severities if s], "severity")
    if len(set(categories)) < 2:
        errors.append(FieldError(("rows",), "need rows of at least two categories"))
    if errors:
        raise InvalidInput("training data", errors[:20])
    try:
        parameters = fit(texts, categories, severities, options or TrainingOptions())
    except ValueError as error:
        if isinstance(error, InvalidInput):
            raise
        # scikit-learn's refusals, e.g. a fold whose rows leave no n-gram (empty vocabulary)
        raise InvalidInput(
            "training data", [FieldError(("rows",), f"cannot train a model on them: {error}")]
        ) from None
    return ModelClassifier(parameters)


@attrs.frozen
class _Forward:
    """One message on its way through the model: its TF-IDF vector (``columns`` and
    ``values``), the weights of those columns, and the raw scores of both heads."""

    columns: list[int]
    values: list[float]
    gathered: Any
    scores: list[float]


def _check_inquiry(text: object) -> None:
    if not isinstance(text, str):
        raise InvalidInput("inquiry", [FieldError(("text",), "must be a string")])


def _too_few(values: list[str], kind: str) -> list[FieldError]:
    """A category or severity with one row cannot be both learned and checked out of fold."""
    counts = Counter(values)
    return [
        FieldError(("rows",), f"{kind} {value!r} has only one row; give it two or more")
        for value, count in sorted(counts.items())
        if count < 2
    ]


class ModelClassifier:
    """A trained model behind the :class:`~aftersales.routing.Classifier` protocol.

    ``confidence`` is the calibrated probability of the answer; below the model's
    abstention threshold the answer is ``other``. ``evidence`` names the n-grams that
    pushed hardest toward the answer (``model:退款``). Severity comes from ``severity``
    (see :data:`SeverityFrom`); only the rules read the inquiry context (repeat contacts,
    VIP tiers, order value).
    """

    def __init__(
        self,
        parameters: ModelParameters,
        *,
        severity: SeverityFrom = "model",
        rules: RuleClassifier | None = None,
    ) -> None:
        import numpy as np

        if severity not in _SEVERITY_FROM:
            raise InvalidInput(
                "classifier",
                [
                    FieldError(
                        ("severity",),
                        f"must be one of {', '.join(_SEVERITY_FROM)}, not {severity!r}",
                    )
                ],
            )
        unknown = [s for s in parameters.severity_labels if s not in Severity._value2member_map_]
        if unknown:
            raise InvalidInput(
                "classifier",
                [FieldError(("severity_labels",), f"{unknown[0]!r} is not a severity")],
            )
        self.parameters = parameters
        self.severity = severity
        self._rules = rules
        self._index = {gram: column for column, gram in enumerate(parameters.vocabulary)}
        self._labels = parameters.labels
        self._other = parameters.labels.index("other") if "other" in parameters.labels else -1
        self._severities = tuple(Severity(s) for s in parameters.severity_labels)
        if self._severities and severity == "rules":
            self._severities = ()
        # Both heads in one matrix: one gather and one product per message.
        self._weights = np.hstack([parameters.weights, parameters.severity_weights])
        self._bias = np.concatenate([parameters.bias, parameters.severity_bias])
        self._idf: list[float] = parameters.idf.tolist()
        self._np = np

    @classmethod
    def load(
        cls,
        folder: Path | str,
        *,
        severity: SeverityFrom = "model",
        rules: RuleClassifier | None = None,
    ) -> ModelClassifier:
        """The model saved in ``folder``. The files are data only (JSON and npz read
        without pickle), checked field by field: a malformed or hostile file raises
        InvalidInput and runs nothing. Needs numpy (``pip install "aftersales[ml]"``)."""
        _require("numpy")
        return cls(load(Path(folder)), severity=severity, rules=rules)

    def save(self, folder: Path | str) -> None:
        """Write the model into ``folder`` (``model.json`` and ``weights.npz``)."""
        save(self.parameters, Path(folder))

    @property
    def labels(self) -> tuple[str, ...]:
        """The categories the model can answer."""
        return self._labels

    @property
    def summary(self) -> dict[str, Any]:
        """What the model was trained on, and its out-of-fold figures."""
        return dict(self.parameters.summary)

    def probabilities(self, text: str) -> dict[str, float]:
        """The calibrated probability of each category for ``text``; InvalidInput when
        ``text`` is not a string."""
        _check_inquiry(text)
        forward = self._forward(text)
        scores = forward.scores if forward else self._bias.tolist()
        return dict(zip(self._labels, self._softmax(scores), strict=False))

    def classify(self, text: str, context: InquiryContext | None = None) -> Classification:
        _check_inquiry(text)
        forward = self._forward(text)
        if forward is None:
            severity = self._rule_severity(text, context) if self.severity != "model" else None
            return Classification("other", severity or Severity.LOW, 0.0, ("empty",))
        probabilities = self._softmax(forward.scores)
        confidence = max(probabilities)
        best = probabilities.index(confidence)
        evidence = self._evidence(forward, best)
        category = self._labels[best]
        if best != self._other and confidence < self.parameters.abstain_below:
            evidence.insert(0, f"model:abstain {category} {confidence:.2f}")
            category = "other"
            confidence = probabilities[self._other] if self._other >= 0 else 0.0
        if self._severities:
            severity_scores = forward.scores[len(self._labels) :]
            severity = self._severities[severity_scores.index(max(severity_scores))]
            if self.severity == "max":
                ruled = self._rule_severity(text, context)
                severity = ruled if _RANK[ruled] > _RANK[severity] else severity
        else:
            severity = self._rule_severity(text, context)
        return Classification(category, severity, round(confidence, 4), tuple(evidence))

    # Per message the arithmetic is on a few dozen numbers: Python lists, with numpy only
    # for the one gather and product, cost a third of what numpy's per-call overhead does.

    def _forward(self, text: str) -> _Forward | None:
        """The TF-IDF vector of ``text`` and the raw scores of both heads; None when the
        text holds no n-gram the model knows."""
        found = Counter(map(self._index.get, ngrams(normalise(text, self.parameters.fold))))
        found.pop(None, None)
        if not found:
            return None
        counts = cast("Counter[int]", found)
        idf = self._idf
        columns = list(counts)
        values = [(1.0 + math.log(count)) * idf[column] for column, count in counts.items()]
        scale = 1.0 / math.sqrt(math.fsum(v * v for v in values))
        values = [v * scale for v in values]
        gathered = self._weights[columns]
        scores = (self._np.array(values) @ gathered + self._bias).tolist()
        return _Forward(columns, values, gathered, scores)

    def _softmax(self, scores: list[float]) -> list[float]:
        """Calibrated probabilities of the categories from the raw scores."""
        temperature = self.parameters.temperature
        logits = [score / temperature for score in scores[: len(self._labels)]]
        top = max(logits)
        exps = [math.exp(logit - top) for logit in logits]
        total = math.fsum(exps)
        return [e / total for e in exps]

    def _evidence(self, forward: _Forward, label: int) -> list[str]:
        weights = forward.gathered[:, label].tolist()
        contributions = [v * w for v, w in zip(forward.values, weights, strict=True)]
        top = heapq.nlargest(_EVIDENCE, range(len(contributions)), key=contributions.__getitem__)
        vocabulary = self.parameters.vocabulary
        return [
            "model:" + vocabulary[forward.columns[i]].removeprefix("w:").removeprefix("b:")
            for i in top
            if contributions[i] > 0
        ]

    def _rule_severity(self, text: str, context: InquiryContext | None) -> Severity:
        if self._rules is None:
            from aftersales.routing.classify import RuleClassifier

            self._rules = RuleClassifier()
        return self._rules.classify(text, context).severity


class CombinedClassifier:
    """The rules first where they are confident, the model otherwise.

    A rule answer other than ``other`` with a confidence of at least ``rule_confidence``
    stands; any other text goes to ``model``. Severity is the higher of the two answers'
    (a missed critical message costs more than an over-cautious one). The evidence starts
    with ``via:rules`` or ``via:model``.
    """

    def __init__(
        self,
        model: Classifier,
        rules: RuleClassifier | None = None,
        *,
        rule_confidence: float = 0.6,
    ) -> None:
        if rules is None:
            from aftersales.routing.classify import RuleClassifier

            rules = RuleClassifier()
        self.model = model
        self.rules = rules
        self.rule_confidence = rule_confidence

    def classify(self, text: str, context: InquiryContext | None = None) -> Classification:
        ruled = self.rules.classify(text, context)
        learned = self.model.classify(text, context)
        severity = (
            learned.severity
            if _RANK[learned.severity] > _RANK[ruled.severity]
            else (ruled.severity)
        )
        if ruled.category != "other" and ruled.confidence >= self.rule_confidence:
            chosen, via = ruled, "via:rules"
        else:
            chosen, via = learned, "via:model"
        return Classification(chosen.category, severity, chosen.confidence, (via, *chosen.evidence))
