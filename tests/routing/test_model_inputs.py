"""The trained classifier refuses bad input with our own errors: hostile model files,
malformed training rows and options, and arguments the API does not know."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aftersales.exceptions import AftersalesError, InvalidInput
from aftersales.models.ticket import Severity
from aftersales.routing import RuleClassifier
from aftersales.routing.evaluation import evaluate
from aftersales.routing.model import (
    LabelledRow,
    ModelClassifier,
    Row,
    TrainingOptions,
    read_rows,
    train_classifier,
)

ROWS = [
    ("我要退货", "return_refund", "medium"),
    ("快递还没到", "delivery", "medium"),
    ("今天天气怎么样", "other", "low"),
] * 4


@pytest.fixture(scope="module")
def model() -> ModelClassifier:
    return train_classifier(ROWS)


def npy(shape: tuple[int, ...], data: bytes, dtype: str = "<f8") -> bytes:
    """An .npy member whose header declares ``shape`` whatever ``data`` holds."""
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + data


def hostile_model(folder: Path, idf: bytes, features: int = 1) -> Path:
    """A model file with ``features`` n-grams, two labels, two severities and ``idf``
    as the idf member; the other arrays are well formed."""
    folder.mkdir()
    document = {
        "format": "aftersales-model",
        "version": 1,
        "labels": ["a", "other"],
        "severity_labels": ["low", "high"],
        "temperature": 1.0,
        "abstain_below": 0.1,
        "fold": "",
        "summary": {},
        "vocabulary": [f"g{i}" for i in range(features)],
    }
    (folder / "model.json").write_text(json.dumps(document), encoding="utf-8")
    with zipfile.ZipFile(folder / "weights.npz", "w") as archive:
        archive.writestr("idf.npy", idf)
        for name, shape in {
            "weights": (features, 2),
            "bias": (2,),
            "severity_weights": (features, 2),
            "severity_bias": (2,),
        }.items():
            archive.writestr(f"{name}.npy", npy(shape, bytes(8 * int(np.prod(shape)))))
    return folder


def refuse_numpy_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("np.load was called on a file that should have been refused")

    monkeypatch.setattr(np, "load", load)


@pytest.mark.parametrize(
    ("idf", "features", "message"),
    [
        # 7 TiB declared, 64 bytes held: numpy would allocate the declared shape first
        (npy((10**12,), bytes(64)), 1, r"idf: has shape \(1000000000000,\), the model needs"),
        (npy((1000,), bytes(64)), 1000, "idf: declares 8000 bytes of data but holds 64"),
        (npy((1,), bytes(8), dtype="|O"), 1, "idf: must hold floating-point numbers"),
        (b"\x93NUMPY\x01\x00" + b"\xff" * 20, 1, "idf: has an unreadable npy header"),
        (b"\x93NUMPY\x03\x00" + bytes(20), 1, r"idf: has an npy header of version \(3, 0\)"),
        (b"not an npy file at all", 1, "idf: has an unreadable npy header"),
    ],
)
def test_a_hostile_npy_header_is_refused_before_numpy_loads_anything(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    idf: bytes,
    features: int,
    message: str,
) -> None:
    folder = hostile_model(tmp_path / "model", idf, features)
    refuse_numpy_load(monkeypatch)
    with pytest.raises(InvalidInput, match=message):
        ModelClassifier.load(folder)


def test_a_well_formed_hand_written_model_file_loads(tmp_path: Path) -> None:
    # the same helper with a sound idf: the refusals above are the header's, not the helper's
    folder = hostile_model(tmp_path / "model", npy((1,), np.ones(1).tobytes()))
    assert ModelClassifier.load(folder).labels == ("a", "other")


@pytest.mark.parametrize("where", ["header", "data"])
def test_a_corrupt_compressed_member_is_invalid_input(tmp_path: Path, where: str) -> None:
    folder = tmp_path / "model"
    train_classifier(ROWS).save(folder)
    data = bytearray((folder / "weights.npz").read_bytes())
    with zipfile.ZipFile(folder / "weights.npz") as archive:
        info = archive.getinfo("weights.npy")
    # the compressed data starts after the local header, whose lengths it gives at 26 and 28
    local = info.header_offset
    name_length = int.from_bytes(data[local + 26 : local + 28], "little")
    extra_length = int.from_bytes(data[local + 28 : local + 30], "little")
    start = local + 30 + name_length + extra_length
    # the first bytes of the deflated stream hold the npy header; the last, the numbers
    at = start + 2 if where == "header" else start + info.compress_size - 8
    data[at : at + 6] = bytes(byte ^ 0xFF for byte in data[at : at + 6])
    (folder / "weights.npz").write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match="weights"):
        ModelClassifier.load(folder)


def test_a_member_whose_numbers_fail_the_checksum_is_invalid_input(tmp_path: Path) -> None:
    # a stored (uncompressed) member: its header reads, its last bytes do not match the CRC
    folder = hostile_model(tmp_path / "model", npy((1000,), np.ones(1000).tobytes()), 1000)
    raw = bytearray((folder / "weights.npz").read_bytes())
    with zipfile.ZipFile(folder / "weights.npz") as archive:
        info = archive.getinfo("idf.npy")
    end = info.header_offset + 30 + len(info.filename) + info.compress_size
    raw[end - 4 : end] = bytes(byte ^ 0xFF for byte in raw[end - 4 : end])
    (folder / "weights.npz").write_bytes(bytes(raw))
    with pytest.raises(InvalidInput, match=r"weights\.npz: cannot be read"):
        ModelClassifier.load(folder)


def test_unknown_severity_labels_in_a_model_file_are_invalid_input(
    model: ModelClassifier, tmp_path: Path
) -> None:
    model.save(tmp_path)
    document = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    document["severity_labels"] = ["low", "urgent"]
    (tmp_path / "model.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(InvalidInput, match="severity_labels: 'urgent' is not a severity"):
        ModelClassifier.load(tmp_path)


def test_parameters_with_an_unknown_severity_label_are_invalid_input(
    model: ModelClassifier,
) -> None:
    import attrs

    bad = attrs.evolve(model.parameters, severity_labels=("low", "urgent"))
    with pytest.raises(InvalidInput, match="'urgent' is not a severity"):
        ModelClassifier(bad)


def test_the_cli_reports_a_hostile_model_file_as_an_error_without_a_traceback(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from aftersales.cli import _build_app

    folder = hostile_model(tmp_path / "model", npy((10**12,), bytes(64)))
    data = tmp_path / "data.csv"
    data.write_text("text,category\n我要退款,return_refund\n", encoding="utf-8")
    result = CliRunner().invoke(_build_app(), ["classifier", "eval", str(data), "-m", str(folder)])
    assert result.exit_code == 1
    assert "error: invalid model file: idf: has shape" in result.stderr
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, (MemoryError, AssertionError))


# Training.


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("只有文本",)], r"rows\.0: must be a LabelledRow or a \(text, category"),
        ([{"text": "x", "category": "y"}], "not a dict"),
        (["ab", "cd"], "not a str"),
        ([("a", "b", "low", "extra")], "not a tuple of 4 items"),
        ([("a", 3)], r"rows\.0\.category: must be a non-empty string"),
        ([("a", "delivery", 5)], r"rows\.0\.severity: unknown severity 5"),
    ],
)
def test_training_names_a_row_of_the_wrong_shape(rows: list[Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        train_classifier(rows + ROWS)


@pytest.mark.parametrize("text", ["", "🙂🙂", "!!?"])
def test_training_on_rows_without_a_character_to_learn_from_is_invalid_input(text: str) -> None:
    rows = [(text, "delivery"), (text, "delivery"), (text, "other"), (text, "other")]
    with pytest.raises(InvalidInput, match="no row holds a letter, digit or CJK character"):
        train_classifier(rows)


def test_a_refusal_of_scikit_learn_during_training_is_invalid_input() -> None:
    # every n-gram is in one row only, so min_count=2 leaves no vocabulary to fit
    rows = [("ab", "delivery"), ("cd", "delivery"), ("ef", "other"), ("gh", "other")]
    with pytest.raises(InvalidInput, match="cannot train a model on them"):
        train_classifier(rows, TrainingOptions(min_count=2))


def test_training_accepts_labelled_rows_tuples_and_severity_names() -> None:
    rows: list[Row] = [LabelledRow(t, c, s) for t, c, s in ROWS[:3]]
    rows += ROWS[3:]
    assert train_classifier(rows).classify("我要退货").category == "return_refund"
    assert LabelledRow("x", "delivery", "high").severity is Severity.HIGH


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"regularisation": 0}, "regularisation"),
        ({"regularisation": float("nan")}, "regularisation"),
        ({"min_count": 0}, "min_count"),
        ({"min_count": 1.5}, "min_count"),
        ({"folds": 1}, "folds"),
        ({"max_false_positive": 1.5}, "max_false_positive"),
        ({"urgent_recall": -0.1}, "urgent_recall"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
    ],
)
def test_training_options_out_of_range_are_refused_on_construction(
    change: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput, match=f"training options: {field}: must be"):
        TrainingOptions(**change)


def test_training_options_are_exported_from_the_model_module() -> None:
    import aftersales.routing.model as model_module

    assert "TrainingOptions" in model_module.__all__
    assert TrainingOptions().regularisation == 3.0


def test_the_cli_reports_untrainable_rows_as_an_error_without_a_traceback(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from aftersales.cli import _build_app

    data = tmp_path / "emoji.csv"
    data.write_text("text,category\n🙂,delivery\n🙂,delivery\n🙃,other\n🙃,other\n")
    out = tmp_path / "model"
    result = CliRunner().invoke(_build_app(), ["classifier", "train", str(data), "-o", str(out)])
    assert result.exit_code == 1
    assert "error: invalid training data" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


# The API: one set of argument checks.


def test_read_rows_takes_a_path_as_a_string(tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    data.write_text("text,category\n我要退款,return_refund\n", encoding="utf-8")
    assert read_rows(str(data)) == read_rows(data) == [LabelledRow("我要退款", "return_refund")]


def test_evaluate_reads_the_tuples_training_reads(model: ModelClassifier) -> None:
    scores = evaluate(model, [("我要退货", "return_refund"), ("今天天气怎么样", "other", "low")])
    assert scores.rows == 2
    assert scores.out_of_scope_rows == 1
    with pytest.raises(InvalidInput, match=r"invalid evaluation data: rows\.0"):
        evaluate(model, [{"text": "x"}])  # type: ignore[list-item]


def test_out_of_scope_rows_follow_the_fit_when_the_data_grades_it(tmp_path: Path) -> None:
    # Bitext's rule: with a fit column, only none rows are out of scope; without, every other row
    graded = tmp_path / "graded.csv"
    graded.write_text(
        "text,category,fit\n我要退款,other,direct\n今天天气不错,other,none\n快递没到,delivery,direct\n",
        encoding="utf-8",
    )
    scores = evaluate(RuleClassifier(), read_rows(graded))
    assert scores.out_of_scope_rows == 1
    assert scores.direct_rows == 2
    ungraded = [("我要退款", "other"), ("今天天气不错", "other"), ("快递没到", "delivery")]
    assert evaluate(RuleClassifier(), ungraded).out_of_scope_rows == 2


def test_an_unknown_fit_is_refused() -> None:
    with pytest.raises(InvalidInput, match="fit: must be one of direct, analog, none"):
        LabelledRow("x", "delivery", None, "close")  # type: ignore[arg-type]


def test_an_unknown_severity_source_is_refused(model: ModelClassifier) -> None:
    with pytest.raises(InvalidInput, match="severity: must be one of model, rules, max"):
        ModelClassifier(model.parameters, severity="maximum")  # type: ignore[arg-type]


def test_probabilities_of_a_non_string_is_invalid_input_like_classify(
    model: ModelClassifier,
) -> None:
    for call in (model.probabilities, model.classify):
        with pytest.raises(InvalidInput, match="text: must be a string"):
            call(None)  # type: ignore[arg-type]
    assert issubclass(InvalidInput, AftersalesError)
