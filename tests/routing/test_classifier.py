"""The bilingual rule classifier: categories, severity, odd input, rules as data, the CI gate."""

from __future__ import annotations

import csv
import json
import runpy
from decimal import Decimal
from pathlib import Path

import pytest

from aftersales import InvalidInput
from aftersales.models.ticket import Severity
from aftersales.routing import (
    DEFAULT_RULES,
    Classification,
    Classifier,
    InquiryContext,
    RuleClassifier,
)
from aftersales.routing._t2s import translation
from aftersales.routing._text import normalise

ROOT = Path(__file__).parent.parent.parent
EVAL = runpy.run_path(str(ROOT / "benchmarks" / "classifier_eval.py"))
CLASSIFIER = RuleClassifier()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I want my money back for the broken kettle", "return_refund"),
        ("can I exchange these shoes for a bigger size?", "exchange"),
        ("what is your exchange rate for euros?", "other"),
        ("the screen is cracked and it won't turn on", "repair_warranty"),
        ("where is my parcel? tracking says delivered", "delivery"),
        ("please send me the invoice for order 1001", "billing_invoice"),
        ("I forgot my password and cannot log in", "account"),
        ("does it support 5G? is it in stock?", "product_inquiry"),
        ("I want to file a complaint against your company", "complaint"),
        ("can I talk to a human agent please", "other"),
        ("退貨退款，謝謝！", "return_refund"),
        ("ＴＶ壞了，ＨＥＬＰ", "repair_warranty"),
        ("my order 还没到，tracking number 查不到", "delivery"),
    ],
)
def test_categories_in_english_chinese_traditional_full_width_and_mixed(
    text: str, category: str
) -> None:
    result = CLASSIFIER.classify(text)
    assert result.category == category, result.evidence


def test_the_evidence_explains_the_choice() -> None:
    result = CLASSIFIER.classify("Refund please, the kettle leaks")
    assert result.category == "return_refund"
    assert "refun" in result.evidence
    assert 0 < result.confidence < 1


@pytest.mark.parametrize(
    ("text", "context", "severity"),
    [
        ("the charger caught fire", None, Severity.CRITICAL),
        ("热水器漏电", None, Severity.CRITICAL),
        ("I will contact my lawyer about this refund", None, Severity.HIGH),
        ("再不退款我就去12315投诉", None, Severity.HIGH),
        ("please refund my order", None, Severity.MEDIUM),
        ("please refund my order", InquiryContext(previous_contacts=3), Severity.HIGH),
        ("please refund my order", InquiryContext(customer_tier="VIP"), Severity.HIGH),
        ("please refund my order", InquiryContext(order_value=Decimal(8000)), Severity.HIGH),
        (
            "please refund my order",
            InquiryContext(previous_contacts=2, customer_tier="gold"),
            Severity.CRITICAL,
        ),
        ("how do I reset my password", None, Severity.LOW),
    ],
)
def test_severity_signals(text: str, context: InquiryContext | None, severity: Severity) -> None:
    assert CLASSIFIER.classify(text, context).severity is severity


@pytest.mark.parametrize(
    "text", ["", "   \n\t", "\x00\x01\x02\xff" * 100, "🙂" * 50, "a" * 1_000_000, "退款" * 500_000]
)
def test_odd_text_gets_an_answer_never_an_exception(text: str) -> None:
    result = CLASSIFIER.classify(text)
    assert isinstance(result, Classification)
    assert result.category in {"other", "return_refund"}


def test_empty_text_is_other_with_the_reason() -> None:
    assert CLASSIFIER.classify("  ").evidence == ("empty",)


def test_non_text_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        CLASSIFIER.classify(b"refund")  # type: ignore[arg-type]


def test_rules_are_data_and_can_be_extended() -> None:
    rules = DEFAULT_RULES.extended({"categories": {"repair_warranty": [{"stems": ["wobbl"]}]}})
    assert RuleClassifier(rules).classify("the table wobbles").category == "repair_warranty"
    assert CLASSIFIER.classify("the table wobbles").category == "other"
    from_json = RuleClassifier(
        json.loads(json.dumps({"categories": {"delivery": [{"zh": ["驿站"]}]}}))
    )
    assert from_json.classify("快递放驿站了").category == "delivery"
    custom = RuleClassifier(
        {
            "categories": {"subscription": [{"stems": ["renew"]}]},
            "extra_categories": ["subscription"],
        }
    )
    assert custom.classify("how do I renew").category == "subscription"


def test_an_unknown_category_in_rules_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="unknown categories"):
        RuleClassifier({"categories": {"refundz": [{"stems": ["refund"]}]}})
    with pytest.raises(InvalidInput):
        RuleClassifier({"categories": {"delivery": [{"stems": ["x"], "weight": 0}]}})


def test_any_model_fits_behind_the_protocol() -> None:
    class AlwaysRepair:
        def classify(self, text: str, context: InquiryContext | None = None) -> Classification:
            return Classification("repair_warranty", Severity.HIGH, 0.99, ("model",))

    assert isinstance(AlwaysRepair(), Classifier)
    assert isinstance(CLASSIFIER, Classifier)


def test_bitext_accuracy_gate_runs_on_a_fresh_clone_from_the_vendored_sample() -> None:
    # 2,257 rows shipped with their licence in tests/data/bitext (see its README); the
    # floors sit about a point under what the sample measured (in the comments).
    scores = EVAL["evaluate"](EVAL["read_rows"](EVAL["BITEXT_SAMPLE"]))
    assert scores.rows == 2257
    assert scores.strict_accuracy >= 0.96  # 0.9695
    assert scores.macro_f1 >= 0.97  # 0.9850
    assert scores.lenient_accuracy >= 0.88  # 0.8908
    assert scores.false_positive_rate <= 0.04  # 0.0285
    assert scores.passed


def test_the_vendored_bitext_sample_carries_its_licence_and_provenance() -> None:
    folder = EVAL["BITEXT_SAMPLE"].parent
    licence = (folder / "LICENSE.txt").read_text(encoding="utf-8")
    assert licence.startswith("Community Data License Agreement – Sharing – Version 1.0")
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "8b6ca3d9559a4a9abab94f7978fae67019215a82" in readme
    assert "Bitext Innovations" in readme
    notice = EVAL["BITEXT_SAMPLE"].read_text(encoding="utf-8").splitlines()[0]
    assert notice.startswith("# Changed by the aftersales project")  # CDLA-Sharing 3.1(b)
    assert sum(path.stat().st_size for path in folder.iterdir()) < 2_000_000


def test_the_evaluation_script_says_where_to_get_the_full_bitext_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AFTERSALES_BITEXT", str(tmp_path / "absent.csv"))
    assert EVAL["main"]([]) == 2
    said = capsys.readouterr().err
    assert "absent.csv" in said
    assert f"curl -LO {EVAL['BITEXT_URL']}" in said
    assert "tests/data/bitext/bitext_eval_sample.csv" in said
    assert EVAL["main"]([str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_the_evaluation_script_maps_bitexts_upstream_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = tmp_path / "Bitext_Sample_Customer_Support_Training_Dataset.csv"
    upstream.write_text(
        "instruction,intent,category,tags\n"
        "where is my refund?,track_refund,REFUND,BQ\n"
        "sign me up for the newsletter,newsletter_subscription,NEWSLETTER,B\n",
        encoding="utf-8",
    )
    rows = EVAL["read_rows"](upstream)
    assert [(r["id"], r["aftersales_category"], r["fit"]) for r in rows] == [
        ("0", "return_refund", "direct"),
        ("1", "other", "none"),
    ]
    monkeypatch.setenv("AFTERSALES_BITEXT", str(upstream))
    assert EVAL["main"]([]) == 0


def test_the_chinese_set_covers_every_category_and_severity_and_passes() -> None:
    with (ROOT / "benchmarks" / "data" / "zh_inquiries.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 150
    assert {r["category"] for r in rows} == set(EVAL["CATEGORIES"])
    assert {r["severity"] for r in rows} == {s.value for s in Severity}
    scores = EVAL["evaluate"](rows)
    assert scores.strict_accuracy >= 0.90
    assert scores.severity_accuracy is not None
    assert scores.severity_accuracy >= 0.90
    assert "OK" in EVAL["render"]("zh", scores)


def test_the_evaluation_script_exits_non_zero_below_target(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,category\nhello,delivery\nhi,delivery\n", encoding="utf-8")
    assert EVAL["main"]([str(bad)]) == 1
    assert EVAL["main"]([str(ROOT / "benchmarks" / "data" / "zh_inquiries.csv")]) == 0


def test_traditional_chinese_as_in_seed_001() -> None:
    # wording of seed 001 (traditional): 商品退換、維修、投訴處理
    result = CLASSIFIER.classify("我要投訴，商品退換和維修一直沒有處理")
    assert result.category == "complaint"
    assert CLASSIFIER.classify("電視機要維修").category == "repair_warranty"


def test_a_word_that_ends_the_scope_stops_a_negation_without_punctuation() -> None:
    # 不要 reaches 换货 (4 characters on) but 而是 ("but rather") ends its scope first
    result = CLASSIFIER.classify("我不要退款而是换货")
    assert result.category == "exchange"
    assert result.evidence == ("not:zh:退款", "zh:换货")
    assert CLASSIFIER.classify("I do not want a refund but an exchange").evidence == (
        "not:refun",
        "exchange",
    )


def test_every_traditional_character_is_simplified_in_and_beyond_the_bmp() -> None:
    # The fast table covers the Basic Multilingual Plane; text with a character beyond it
    # (Extension B holds traditional ones) takes OpenCC's table as a dict. Both convert alike.
    table = translation()
    assert any(code > 0xFFFF for code in table)
    for code, simplified in table.items():
        assert normalise(chr(code) + "退貨") == normalise(simplified) + "退货"
    beyond = next(chr(code) for code in table if code > 0xFFFF)
    assert CLASSIFIER.classify(beyond + "退貨，謝謝").evidence == ("zh:退货",)
