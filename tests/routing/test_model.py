"""The trained classifier: training, prediction, abstention, the model file, the combination."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from aftersales.exceptions import InvalidInput
from aftersales.models.ticket import Severity
from aftersales.routing import Classifier, InquiryContext, RuleClassifier
from aftersales.routing._model_train import MAX_URGENT_LIFT
from aftersales.routing.evaluation import evaluate, render
from aftersales.routing.model import (
    CombinedClassifier,
    LabelledRow,
    ModelClassifier,
    TrainingOptions,
    read_rows,
    train_classifier,
)

DATA = Path(__file__).parent.parent / "data"
RULES = RuleClassifier(
    {
        "categories": {"repair_warranty": [{"zh": ["漏电", "冒烟", "维修"]}]},
        "severity": {"critical": ["漏电"]},
    }
)
"""Rules of our own: these tests are about the model, not the built-in rules."""
ENGLISH = [
    ("I want a refund for my order", "return_refund", "medium"),
    ("how do I get my money back", "return_refund", "medium"),
    ("please refund the jacket I returned", "return_refund", "medium"),
    ("where is my package, it has not arrived", "delivery", "medium"),
    ("track my order please", "delivery", "medium"),
    ("the parcel is late again", "delivery", "medium"),
    ("what is the weather tomorrow", "other", "low"),
    ("play some jazz music", "other", "low"),
    ("set an alarm for seven", "other", "low"),
    ("tell me a joke", "other", "low"),
    ("how many calories in an apple", "other", "low"),
    ("what time is it in tokyo", "other", "low"),
]


def small_rows() -> list[LabelledRow]:
    """A few Chinese rows of each category and severity, CrossWOZ turns and English rows:
    seconds to train, enough to tell after-sales from travel talk and danger from delay."""
    taken: dict[tuple[str, Severity | None], int] = {}
    rows = []
    for row in read_rows(DATA / "zh_train" / "zh_train.csv"):
        key = (row.category, row.severity)
        if taken.get(key, 0) < 12:
            taken[key] = taken.get(key, 0) + 1
            rows.append(row)
    rows += read_rows(DATA / "zh_oos" / "crosswoz_oos_train.csv")[:80]
    rows += [LabelledRow(t, c, Severity(s)) for t, c, s in ENGLISH]
    return rows


@pytest.fixture(scope="module")
def model() -> ModelClassifier:
    return train_classifier(small_rows())


@pytest.fixture(scope="module")
def saved(model: ModelClassifier, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    model.save(folder)
    return folder


TEXTS = [
    "我要退货，衣服太小了",
    "退貨要怎麼申請",  # traditional
    "ＲＥＦＵＮＤ什么时候到账",  # full width
    "我的快递到哪了",
    "热水器漏电，差点触电",
    "帮我推荐一家评分高的餐馆",
    "where is my parcel",
    "",
    "x" * 50_000,
]


def test_a_model_is_a_classifier_and_answers_calibrated_probabilities(
    model: ModelClassifier,
) -> None:
    assert isinstance(model, Classifier)
    probabilities = model.probabilities("我要退款")
    assert set(probabilities) == set(model.labels)
    assert sum(probabilities.values()) == pytest.approx(1.0)
    result = model.classify("我要退款")
    assert result.category == "return_refund"
    assert result.confidence == pytest.approx(probabilities["return_refund"], abs=1e-4)
    assert model.summary["calibration_error_after"] <= model.summary["calibration_error_before"]


def test_the_evidence_names_ngrams_of_the_text(model: ModelClassifier) -> None:
    result = model.classify("我的快递三天了还没到")
    assert result.category == "delivery"
    assert result.evidence
    for item in result.evidence:
        assert item.startswith("model:")
        assert item.removeprefix("model:") in "我的快递三天了还没到"


def test_training_on_the_same_rows_gives_the_same_model() -> None:
    rows = small_rows()
    first, second = train_classifier(rows), train_classifier(rows)
    assert first.parameters.vocabulary == second.parameters.vocabulary
    assert np.array_equal(first.parameters.weights, second.parameters.weights)
    assert first.parameters.abstain_below == second.parameters.abstain_below
    assert [first.classify(t) for t in TEXTS] == [second.classify(t) for t in TEXTS]


def test_a_saved_model_loads_and_answers_exactly_the_same(
    model: ModelClassifier, saved: Path
) -> None:
    loaded = ModelClassifier.load(saved)
    assert [loaded.classify(t) for t in TEXTS] == [model.classify(t) for t in TEXTS]
    assert loaded.summary == model.summary


def test_prediction_sees_the_same_features_as_training(model: ModelClassifier) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

    from aftersales.routing._model_features import ngrams, normalise

    parameters = model.parameters
    vectoriser = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True)
    vectoriser.vocabulary_ = {gram: i for i, gram in enumerate(parameters.vocabulary)}
    vectoriser.idf_ = parameters.idf
    for text in TEXTS[:7]:
        expected = vectoriser.transform([ngrams(normalise(text, parameters.fold))]).toarray()[0]
        forward = model._forward(text)
        actual = np.zeros(len(parameters.vocabulary))
        if forward is not None:
            actual[forward.columns] = forward.values
        assert np.allclose(actual, expected)


def test_out_of_scope_text_is_answered_other(model: ModelClassifier) -> None:
    for text in ("这家酒店附近有什么好吃的餐馆？", "从故宫坐地铁去北京西站怎么走", "play jazz"):
        assert model.classify(text).category == "other", text


def test_below_the_threshold_the_model_abstains(model: ModelClassifier) -> None:
    import attrs

    cautious = ModelClassifier(attrs.evolve(model.parameters, abstain_below=1.0))
    result = cautious.classify("我要退款")
    assert result.category == "other"
    assert result.evidence[0].startswith("model:abstain return_refund")
    assert result.confidence == pytest.approx(cautious.probabilities("我要退款")["other"], abs=1e-4)


def test_text_without_a_known_ngram_gets_the_prior_probabilities(model: ModelClassifier) -> None:
    prior = model.probabilities("")
    assert prior == model.probabilities("🙂🙂")
    assert sum(prior.values()) == pytest.approx(1.0)


def test_odd_text_never_raises_and_a_non_string_is_invalid_input(model: ModelClassifier) -> None:
    assert model.classify("").category == "other"
    assert model.classify("\x00\ufffd🙂").evidence == ("empty",)
    assert model.classify("我要退款" * 10_000).category == "return_refund"
    with pytest.raises(InvalidInput):
        model.classify(b"bytes")  # type: ignore[arg-type]


def test_severity_comes_from_the_model_the_rules_or_the_higher(
    model: ModelClassifier,
) -> None:
    parameters = model.parameters
    text = "帮我推荐一家评分高的餐馆"  # low for the model and, without context, the rules
    vip = InquiryContext(customer_tier="vip", previous_contacts=3)
    assert model.classify("热水器漏电，冒烟了").severity is Severity.CRITICAL
    assert model.classify(text, vip).severity is Severity.LOW  # the model reads no context
    by_rules = ModelClassifier(parameters, severity="rules", rules=RULES)
    assert by_rules.classify(text, vip).severity is Severity.HIGH  # low, raised twice
    highest = ModelClassifier(parameters, severity="max", rules=RULES)
    assert highest.classify(text, vip).severity is Severity.HIGH
    assert highest.classify(text).severity is Severity.LOW
    assert highest.classify("热水器漏电，冒烟了").severity is Severity.CRITICAL


def one_writer_sample(per_kind: int = 20) -> list[LabelledRow]:
    """The first rows of each category and severity of one writer (zh_train4): a set on
    which critical and high compete, so raising high takes rows from critical."""
    taken: dict[tuple[str, Severity | None], int] = {}
    rows = []
    for row in read_rows(DATA / "zh_train4" / "zh_train4.csv"):
        key = (row.category, row.severity)
        if taken.get(key, 0) < per_kind:
            taken[key] = taken.get(key, 0) + 1
            rows.append(row)
    return rows


def test_critical_and_high_both_reach_the_aimed_out_of_fold_recall() -> None:
    # Raising high after critical was fitted once left critical at 0.75 here.
    model = train_classifier(one_writer_sample())
    aim = TrainingOptions().urgent_recall
    recall = model.summary["out_of_fold_severity_recall"]
    assert recall["critical"] >= aim
    assert recall["high"] >= aim
    # Reached by raising the urgent levels, not by calling everything urgent.
    assert recall["low"] >= 0.5
    assert recall["medium"] >= 0.2


def test_an_aim_out_of_reach_raises_urgent_scores_only_so_far() -> None:
    rows = one_writer_sample()
    plain = train_classifier(rows, TrainingOptions(urgent_recall=0.0)).parameters
    lifted = train_classifier(rows, TrainingOptions(urgent_recall=1.0)).parameters
    lift = dict(zip(plain.severity_labels, lifted.severity_bias - plain.severity_bias, strict=True))
    assert lift["low"] == lift["medium"] == 0
    assert 0 < lift["critical"] <= MAX_URGENT_LIFT
    assert 0 < lift["high"] <= MAX_URGENT_LIFT


def test_a_model_without_severities_takes_the_rules_severity() -> None:
    rows = [(t, c) for t, c, _ in ENGLISH]
    model = train_classifier(rows)
    assert model.parameters.severity_labels == ()
    text = "the parcel caught fire"
    assert model.classify(text).severity == RuleClassifier().classify(text).severity


def test_training_refuses_rows_it_cannot_learn_from() -> None:
    with pytest.raises(InvalidInput, match="at least two categories"):
        train_classifier([("a", "delivery"), ("b", "delivery")])
    with pytest.raises(InvalidInput, match="'other' has only one row"):
        train_classifier([("a", "delivery"), ("b", "delivery"), ("c", "other")])
    with pytest.raises(InvalidInput, match="unknown severity 'urgent'"):
        train_classifier([("a", "delivery", "urgent"), ("b", "other", "low")])
    with pytest.raises(InvalidInput, match=r"rows\.0\.text: must be a string"):
        train_classifier([(None, "delivery")])  # type: ignore[list-item]


def test_a_missing_extra_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch, saved: Path
) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r'pip install "aftersales\[ml\]"'):
        train_classifier(ENGLISH)
    monkeypatch.setitem(sys.modules, "numpy", None)
    with pytest.raises(ImportError, match=r'pip install "aftersales\[ml\]"'):
        ModelClassifier.load(saved)


def test_read_rows_reads_our_csvs_and_bitexts_and_names_a_bad_line(tmp_path: Path) -> None:
    notes = tmp_path / "notes.csv"
    notes.write_text(
        "# a note\ntext,aftersales_category,fit\nhi,other,none\nrefund,return_refund,direct\n"
        "cancel,return_refund,analog\n",
        encoding="utf-8",
    )
    rows = read_rows(notes)
    assert [(r.category, r.fit) for r in rows] == [
        ("other", "none"),
        ("return_refund", "direct"),
        ("return_refund", "analog"),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("text,category,severity\nok,delivery,low\nno,delivery,urgent\n,other,\n")
    with pytest.raises(InvalidInput) as raised:
        read_rows(bad)
    assert [e.location[-1] for e in raised.value.errors] == [3, 4]
    columns = tmp_path / "columns.csv"
    columns.write_text("message,label\nhi,other\n")
    with pytest.raises(InvalidInput, match="needs the columns text and category"):
        read_rows(columns)
    with pytest.raises(InvalidInput, match="no such file"):
        read_rows(tmp_path / "absent.csv")
    fits = tmp_path / "fits.csv"
    fits.write_text("text,category,fit\nhi,other,maybe\n")
    with pytest.raises(InvalidInput, match="unknown fit 'maybe'"):
        read_rows(fits)


def test_combined_takes_confident_rules_and_the_model_otherwise(model: ModelClassifier) -> None:
    combined = CombinedClassifier(model, RULES, rule_confidence=0.6)
    confident = "洗衣机漏电，还冒烟了，要维修"
    assert RULES.classify(confident).confidence >= 0.6
    result = combined.classify(confident)
    assert result.evidence[0] == "via:rules"
    assert result.severity is Severity.CRITICAL
    unsure = combined.classify("帮我推荐一家评分高的餐馆")
    assert unsure.evidence[0] == "via:model"
    assert unsure.category == "other"
    never = CombinedClassifier(model, RULES, rule_confidence=2.0)
    assert CombinedClassifier(model).rules is not None  # the built-in rules by default
    assert never.classify(confident).evidence[0] == "via:model"


def test_evaluation_reports_the_figures_issue_21_asks_for(model: ModelClassifier) -> None:
    rows = [
        LabelledRow("我要退款", "return_refund", Severity.MEDIUM),
        LabelledRow("我的快递到哪了", "delivery", Severity.MEDIUM),
        LabelledRow("热水器漏电", "repair_warranty", Severity.CRITICAL),
        LabelledRow("附近有什么好吃的餐馆", "other", Severity.LOW),
        LabelledRow("cancel my order", "return_refund", None, "analog"),
    ]
    scores = evaluate(model, rows)
    assert scores.rows == 5
    assert set(scores.recall) >= {"return_refund", "delivery", "other"}
    assert scores.false_positive_rate == 0.0
    assert scores.out_of_scope_rows == 1
    assert set(scores.severity_recall) == {"critical", "medium", "low"}
    text = render("model", scores)
    assert "severity recall" in text
    assert "precision" in text
    assert evaluate(RuleClassifier(), rows[:1]).false_positive_rate is None


# The model file: data only, checked before use.


def copy_of(saved: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "copy"
    folder.mkdir()
    for name in ("model.json", "weights.npz"):
        (folder / name).write_bytes((saved / name).read_bytes())
    return folder


def edit_json(folder: Path, **changes: object) -> None:
    path = folder / "model.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document.update(changes)
    path.write_text(json.dumps(document), encoding="utf-8")


def edit_arrays(folder: Path, **changes: object) -> None:
    with np.load(folder / "weights.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays.update(changes)
    np.savez(folder / "weights.npz", **arrays)


class _Payload:
    """Pickled, it would create a file when unpickled: proof that loading runs nothing."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.touch, (self.marker,))


def test_a_file_with_pickled_content_is_refused_and_nothing_runs(
    saved: Path, tmp_path: Path
) -> None:
    folder = copy_of(saved, tmp_path)
    marker = tmp_path / "executed"
    hostile = np.empty(1, dtype=object)
    hostile[0] = _Payload(marker)
    edit_arrays(folder, weights=hostile)
    with pytest.raises(InvalidInput, match="weights: must hold floating-point numbers, not object"):
        ModelClassifier.load(folder)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "version: 2 is not supported"),
        ({"format": "pickle"}, "format: is not 'aftersales-model'"),
        ({"labels": ["only"]}, "labels: must be two or more"),
        ({"labels": "return_refund"}, "labels: must be a list of strings"),
        ({"temperature": float("nan")}, "temperature: must be a number"),
        ({"abstain_below": True}, "abstain_below: must be a number"),
        ({"fold": "a"}, "fold: must be a string of character pairs"),
        ({"summary": []}, "summary: must be an object"),
        ({"vocabulary": ["a", "a"]}, "vocabulary: has an n-gram twice"),
        ({"severity_labels": ["low", "low"]}, "severity_labels: has a label twice"),
    ],
)
def test_a_model_json_with_a_wrong_field_is_refused(
    saved: Path, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    folder = copy_of(saved, tmp_path)
    edit_json(folder, **change)
    with pytest.raises(InvalidInput, match=message):
        ModelClassifier.load(folder)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("weights", np.zeros((3, 2)), "weights: has shape"),
        ("bias", np.zeros(1), "bias: has shape"),
        ("severity_bias", np.zeros(4, dtype=np.int64), "must hold floating-point numbers"),
    ],
)
def test_arrays_of_the_wrong_shape_or_kind_are_refused(
    saved: Path, tmp_path: Path, name: str, value: object, message: str
) -> None:
    folder = copy_of(saved, tmp_path)
    edit_arrays(folder, **{name: value})
    with pytest.raises(InvalidInput, match=message):
        ModelClassifier.load(folder)


def test_an_array_holding_a_value_that_is_not_a_finite_number_is_refused(
    saved: Path, tmp_path: Path
) -> None:
    folder = copy_of(saved, tmp_path)
    with np.load(folder / "weights.npz") as archive:
        idf = archive["idf"].copy()
    idf[0] = np.inf
    edit_arrays(folder, idf=idf)
    with pytest.raises(InvalidInput, match="idf: holds a value that is not a finite number"):
        ModelClassifier.load(folder)


def test_missing_broken_or_incomplete_files_are_refused(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"model\.json: not found"):
        ModelClassifier.load(tmp_path / "nowhere")
    folder = copy_of(saved, tmp_path)
    (folder / "weights.npz").write_bytes(b"not a zip")
    with pytest.raises(InvalidInput, match="is not an npz archive"):
        ModelClassifier.load(folder)
    (folder / "weights.npz").unlink()
    with pytest.raises(InvalidInput, match=r"weights\.npz: not found"):
        ModelClassifier.load(folder)
    np.savez(folder / "weights.npz", idf=np.zeros(1))
    with pytest.raises(InvalidInput, match="lacks the arrays weights"):
        ModelClassifier.load(folder)
    (folder / "model.json").write_text("[1, 2]")
    with pytest.raises(InvalidInput, match="must hold a JSON object"):
        ModelClassifier.load(folder)
    (folder / "model.json").write_bytes(b"\xff{")
    with pytest.raises(InvalidInput, match="is not JSON"):
        ModelClassifier.load(folder)


def test_a_file_too_large_to_be_a_model_is_refused_before_it_is_read(
    saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aftersales.routing import _model_file

    folder = copy_of(saved, tmp_path)
    monkeypatch.setattr(_model_file, "MAX_ARRAY_BYTES", 10)
    with pytest.raises(InvalidInput, match="holds more than 10 bytes"):
        ModelClassifier.load(folder)
    monkeypatch.setattr(_model_file, "MAX_JSON_BYTES", 10)
    with pytest.raises(InvalidInput, match="is larger than 10 bytes"):
        ModelClassifier.load(folder)


# The command line.


def write_csv(path: Path, rows: list[LabelledRow]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category", "severity"])
        for row in rows:
            writer.writerow([row.text, row.category, row.severity.value if row.severity else ""])
    return path


def test_the_cli_trains_a_model_and_evaluates_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from aftersales.cli import _build_app

    data = write_csv(tmp_path / "train.csv", small_rows())
    out = tmp_path / "model"
    runner = CliRunner()
    trained = runner.invoke(_build_app(), ["classifier", "train", str(data), "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    assert "out-of-fold accuracy" in trained.stdout
    assert (out / "model.json").is_file()
    assert (out / "weights.npz").is_file()
    test = write_csv(
        tmp_path / "test.csv",
        [
            LabelledRow("我要退款", "return_refund", Severity.MEDIUM),
            LabelledRow("这附近有地铁站吗", "other", Severity.LOW),
        ],
    )
    for using in ("model", "rules", "combined"):
        scored = runner.invoke(
            _build_app(), ["classifier", "eval", str(test), "-m", str(out), "--using", using]
        )
        assert scored.exit_code == 0, scored.output
        assert f"== {using} on {test}: 2 rows" in scored.stdout
        assert "out-of-scope false positives" in scored.stdout


def test_the_cli_fails_cleanly_on_bad_input(tmp_path: Path, saved: Path) -> None:
    from typer.testing import CliRunner

    from aftersales.cli import _build_app

    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text("message\nhello\n", encoding="utf-8")
    result = runner.invoke(
        _build_app(), ["classifier", "train", str(bad), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 1
    assert "error: invalid data" in result.stderr
    assert "text and category" in result.stderr
    assert not (tmp_path / "m").exists()
    no_model = runner.invoke(_build_app(), ["classifier", "eval", str(bad)])
    assert no_model.exit_code == 2
    assert "--model is needed" in no_model.stderr
    broken = copy_of(saved, tmp_path)
    edit_json(broken, version=99)
    good = write_csv(tmp_path / "good.csv", [LabelledRow("我要退款", "return_refund")])
    result = runner.invoke(_build_app(), ["classifier", "eval", str(good), "-m", str(broken)])
    assert result.exit_code == 1
    assert "invalid model file: version: 99 is not supported" in result.stderr
    occupied = tmp_path / "occupied"
    occupied.write_text("a file, not a folder")
    two = write_csv(
        tmp_path / "two.csv",
        [LabelledRow(text, category) for text, category, _ in ENGLISH],
    )
    result = runner.invoke(_build_app(), ["classifier", "train", str(two), "--out", str(occupied)])
    assert result.exit_code == 1
    assert f"cannot write the model to {occupied}" in result.stderr
    helped = runner.invoke(_build_app(), ["classifier", "-h"])
    assert helped.exit_code == 0
    assert "train" in helped.stdout
    assert "eval" in helped.stdout
