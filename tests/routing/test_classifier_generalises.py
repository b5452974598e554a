"""The rule classifier on text its rules were not written against: one test per cause of
the misses measured in issue 21 (word boundaries, evidence counted once, negation, context,
severity phrases, traditional characters, vocabulary), and the evaluation script on any set."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aftersales.models.ticket import Severity
from aftersales.routing import DEFAULT_RULES, RuleClassifier
from aftersales.routing._text import normalise, word_spans, words

ROOT = Path(__file__).parent.parent.parent
EVAL = runpy.run_path(str(ROOT / "benchmarks" / "classifier_eval.py"))
CLASSIFIER = RuleClassifier()


def test_a_word_matched_by_two_overlapping_stems_counts_once() -> None:
    rules = {
        "categories": {
            "account": [{"stems": ["account", "accoun"]}],
            "delivery": [{"stems": ["deliver"], "weight": 1.5}],
        }
    }
    result = RuleClassifier(rules).classify("deliver it to my account")
    assert result.category == "delivery", result.evidence
    assert [e for e in result.evidence if e.startswith("accoun")] == ["account"]


def test_a_phrase_and_the_word_inside_it_are_one_piece_of_evidence() -> None:
    rules = {
        "categories": {"billing_invoice": [{"phrases": ["cancellation fee"], "words": ["fee"]}]}
    }
    result = RuleClassifier(rules).classify("what is the cancellation fee")
    assert result.evidence == ("cancellation fee",)


@pytest.mark.parametrize(
    "text",
    [
        "I love the pink one",  # pin
        "my charger is in the drawer",  # charg
        "feel free to call me",  # fee
        "can I top up with Apple Pay?",  # pay, without anything bought
        "say trivia about lebron james",  # jam
    ],
)
def test_a_keyword_does_not_match_inside_an_unrelated_word(text: str) -> None:
    assert CLASSIFIER.classify(text).category == "other", CLASSIFIER.classify(text).evidence


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("I have an issue with my order", Severity.LOW),  # "sue" inside "issue"
        ("the firewall blocks your app login", Severity.LOW),  # "fire" inside "firewall"
        ("火花塞多久换一次", Severity.LOW),  # 火花 inside 火花塞, a spark plug
        ("no smoke, but it will not turn on", Severity.MEDIUM),
        ("没有冒烟，就是开不了机", Severity.MEDIUM),
        ("I will sue you over this refund", Severity.HIGH),
        ("the kettle caught fire", Severity.CRITICAL),
        ("充电器冒火花了", Severity.CRITICAL),
    ],
)
def test_severity_signals_are_words_and_phrases_not_substrings(
    text: str, severity: Severity
) -> None:
    assert CLASSIFIER.classify(text).severity is severity, CLASSIFIER.classify(text).evidence


def test_unless_matches_inflected_words() -> None:
    assert CLASSIFIER.classify("which currencies do you exchange?").category == "other"
    assert CLASSIFIER.classify("can I exchange these shoes?").category == "exchange"


@pytest.mark.parametrize(
    ("text", "category", "cancelled"),
    [
        ("我要换货，不要退款", "exchange", "not:zh:退款"),
        ("不用退款了，帮我换个颜色就行", "exchange", "not:zh:退款"),
        ("I don't want a refund, just send me another size", "exchange", "not:refun"),
        ("我不想退货，想换个大一号的", "exchange", "not:zh:想退"),  # 不想 runs into 想退
    ],
)
def test_a_negated_request_does_not_count_and_the_evidence_says_so(
    text: str, category: str, cancelled: str
) -> None:
    result = CLASSIFIER.classify(text)
    assert result.category == category, result.evidence
    assert cancelled in result.evidence


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("不想要了，退款吧", "return_refund"),  # 不想 belongs to 不想要了, not a negation
        ("不要紧，我自己解决了", "other"),  # never mind: no negation, no request
        ("我不要换货，直接退钱", "return_refund"),  # the negation ends with the clause
    ],
)
def test_a_negation_reaches_only_its_own_clause_and_not_into_longer_words(
    text: str, category: str
) -> None:
    assert CLASSIFIER.classify(text).category == category, CLASSIFIER.classify(text).evidence


@pytest.mark.parametrize(
    "text",
    [
        "transfer $200 from my savings account to checking",
        "what is my account balance",
        "what is my pay grade at work",
        "when is my next paycheck going to arrive",
        "please cancel my dinner reservation",
        "do you know the expiration date on my credit card",
        "can you swap the language to afrikaans",
        "i need you to set a timer",
    ],
)
def test_bank_travel_and_small_talk_stay_other_without_after_sales_context(text: str) -> None:
    result = CLASSIFIER.classify(text)
    assert result.category == "other", result.evidence


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I want to delete my account", "account"),
        ("I forgot my passcode and cannot sign in", "account"),
        ("I was charged twice for my order", "billing_invoice"),
        ("please cancel my order", "return_refund"),
        ("when will my package arrive", "delivery"),
        ("can I swap this for the blue one?", "exchange"),
    ],
)
def test_the_same_words_count_with_after_sales_context(text: str, category: str) -> None:
    result = CLASSIFIER.classify(text)
    assert result.category == category, result.evidence


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("支持无线充电吗", "product_inquiry"),
        ("这款冰箱容量多大", "product_inquiry"),
        ("这个杯子有几种颜色", "product_inquiry"),
        ("能连接电视吗", "product_inquiry"),
        ("太失望了，再也不会在你们家买了", "complaint"),
        ("客服一直推来推去，没人解决问题", "complaint"),
        ("have not received my order yet", "delivery"),
        ("still waiting for it since monday", "delivery"),
        ("forgot my passcode", "account"),
        ("the lamp arrived damaged", "repair_warranty"),
    ],
)
def test_the_everyday_vocabulary_of_each_category(text: str, category: str) -> None:
    result = CLASSIFIER.classify(text)
    assert result.category == category, result.evidence


def test_every_traditional_character_opencc_knows_is_simplified() -> None:
    assert normalise("區營盜") == "区营盗"
    assert normalise("裏裡啟") == "里里启"  # Hong Kong and Taiwan variants too
    result = CLASSIFIER.classify("信用卡被盜刷了")
    assert (result.category, result.severity) == ("billing_invoice", Severity.HIGH)
    assert "zh:营业时间" in CLASSIFIER.classify("請問營業時間").evidence


def test_the_shipped_conversion_table_is_what_opencc_dictionaries_generate() -> None:
    pytest.importorskip("opencc")
    from aftersales.routing import _t2s

    assert _t2s.generate(_t2s.installed_dictionaries()) == _t2s.TABLE.read_text(encoding="utf-8")
    licence = _t2s.TABLE.parent / "LICENSE-OpenCC.txt"
    assert "Apache License" in licence.read_text(encoding="utf-8")


def test_simplified_text_is_left_as_it_is() -> None:
    terms = [
        term for rules in DEFAULT_RULES.categories.values() for rule in rules for term in rule.zh
    ]
    assert [term for term in terms if normalise(term) != term] == []
    assert normalise("什么时候到？怎么用") == "什么时候到?怎么用"
    opencc = pytest.importorskip("opencc")
    folder = Path(opencc.__file__).parent / "dictionary"
    lines = (folder / "STCharacters.txt").read_text(encoding="utf-8").splitlines()
    chars = {line.split("\t")[0] for line in lines}
    assert sorted(c for c in chars if len(c) == 1 and normalise(c) != c) == []


def test_the_table_regenerates_into_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aftersales.routing import _t2s

    folder = tmp_path / "dictionary"
    folder.mkdir()
    (folder / "TWVariantsRev.txt").write_text("啟\t啓\n", encoding="utf-8")
    (folder / "HKVariantsRev.txt").write_text("衹\t只\n抬\t擡\n", encoding="utf-8")
    (folder / "STCharacters.txt").write_text("么\t麼\n", encoding="utf-8")
    (folder / "TSCharacters.txt").write_text(
        "區\t区\n乾\t干 乾\n隻\t只\n乾燥\t干燥\n麼\t么\n么\t幺 么\n啓\t启\n",
        encoding="utf-8",  # phrases are left out
    )
    monkeypatch.setattr(_t2s, "TABLE", tmp_path / "t2s.tsv")
    assert _t2s.main([str(folder)]) == 0
    lines = (tmp_path / "t2s.tsv").read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if not line.startswith("#")] == [
        "乾\t干",
        "區\t区",
        "啓\t启",
        "啟\t启",  # a Taiwan variant, through its standard form
        "衹\t只",
        "隻\t只",
        "麼\t么",  # 么, which simplified text uses, stays; 抬 (→ 擡, traditional) too
    ]
    assert "7 characters" in capsys.readouterr().out


def test_the_rules_work_without_the_chinese_extra() -> None:
    script = (
        "import sys\n"
        "sys.modules['jieba'] = None\n"
        "sys.modules['opencc'] = None\n"
        "from aftersales.routing import RuleClassifier\n"
        "result = RuleClassifier().classify('電視機壞了，要維修')\n"
        "print(result.category, result.evidence)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("repair_warranty")
    assert done.stderr == ""


def test_negations_and_compounds_are_rules_data_that_extend() -> None:
    rules = DEFAULT_RULES.extended(
        {"categories": {}, "negations": ["never want"], "not_within": ["退款单"]}
    )
    assert "never want" in rules.negations
    assert "不要" in rules.negations
    classifier = RuleClassifier(rules)
    assert classifier.classify("I never want a refund, swap it for a bigger size").category == (
        "exchange"
    )
    assert classifier.classify("退款单号是多少").category != "return_refund"


@pytest.mark.parametrize(
    ("text", "evidence"),
    [
        ("火花塞" * 6000, ()),  # a spark plug, not a spark: no severity, no repair
        ("不要退款" * 5000, ("not:zh:退款",)),  # every refund negated
        ("no fire " * 2500, ()),  # a negated fire is no emergency
        ("account " * 2500, ()),  # "account" needs after-sales context
    ],
)
def test_long_repetitive_text_keeps_its_exclusions_and_negations(
    text: str, evidence: tuple[str, ...]
) -> None:
    result = RuleClassifier().classify(text)
    assert (result.category, result.severity.value) == ("other", "low")
    assert result.evidence[: len(evidence)] == evidence


def test_the_chinese_development_set_meets_the_targets() -> None:
    # Written while the rules were changed (see zh_dev_README.md): a floor against
    # regressions, not a measure of unseen text.
    scores = EVAL["evaluate"](EVAL["read_rows"](EVAL["CHINESE_DEV"]))
    assert scores.rows >= 100
    assert scores.strict_accuracy >= 0.90
    assert scores.severity_recall["high"] >= 0.8
    assert scores.severity_recall["critical"] >= 0.8


def test_the_evaluation_script_scores_any_csv_with_severity_recall(tmp_path: Path) -> None:
    labelled = tmp_path / "held_out.csv"
    labelled.write_text(
        "text,category,severity\n"
        "热水器漏电了,repair_warranty,critical\n"
        "我要找律师起诉你们,complaint,high\n"
        "今天天气不错,other,low\n",
        encoding="utf-8",
    )
    scores = EVAL["evaluate"](EVAL["read_rows"](labelled))
    assert scores.severity_recall == {"critical": 1.0, "high": 1.0, "low": 1.0}
    assert "severity recall: critical 1.00, high 1.00, low 1.00" in EVAL["render"]("x", scores)
    assert EVAL["main"]([str(labelled)]) == 0


def test_the_evaluation_script_reads_clinc150_and_counts_false_positives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clinc = tmp_path / "data_full.json"
    clinc.write_text(
        json.dumps(
            {
                "train": [["transfer money to my savings account", "transfer"]],
                "oos_train": [["how tall is everest", "oos"]],
                "test": [
                    ["where is my package", "order_status"],
                    ["freeze my bank account", "freeze_account"],
                ],
                "oos_test": [["please refund my order", "oos"]],
            }
        ),
        encoding="utf-8",
    )
    rows = EVAL["read_rows"](Path(f"{clinc}:train"))
    assert [(r["aftersales_category"], r["fit"]) for r in rows] == [
        ("other", "none"),
        ("other", "none"),
    ]
    scores = EVAL["evaluate"](EVAL["read_rows"](clinc))  # the test split by default
    assert scores.direct_rows == 0
    assert scores.false_positive_rate == 0.5  # of 2 rows with no after-sales meaning
    assert scores.false_positives == {"return_refund": 1}
    assert EVAL["main"]([str(clinc)]) == 1  # above the 8% out-of-scope target
    assert "target <= 0.08" in capsys.readouterr().out
    assert EVAL["main"]([f"{clinc}:train"]) == 0
    assert EVAL["main"]([f"{clinc}:nope"]) == 2


def test_compatibility_characters_are_normalised_like_full_width_ones() -> None:
    assert normalise("ﬁx ＴＶ①") == "fix tv1"
    assert CLASSIFIER.classify("please ﬁx my kettle").category == "repair_warranty"


def test_a_term_of_punctuation_matches_as_characters() -> None:
    classifier = RuleClassifier({"categories": {"complaint": [{"phrases": ["!!!"]}]}})
    assert classifier.classify("where is it!!!").category == "complaint"


def test_words_are_matched_alike_once_the_lexicon_stops_remembering_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aftersales.routing import _matching

    monkeypatch.setattr(_matching, "_REMEMBERED", 0)
    classifier = RuleClassifier()
    for _ in range(2):
        assert classifier.classify("I want a refund").evidence == ("refun",)


@given(st.text(alphabet="ab'1 -退,.’ＡＢ", max_size=40))
def test_word_positions_are_where_the_words_are(text: str) -> None:
    clean = normalise(text)
    assert [clean[start:end] for _, start, end in word_spans(clean)] == words(clean)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("退款多久能到银行卡\n没有解决，我要人工客服", "return_refund"),
        ("我要人工客服", "other"),
        ("I want to speak to a human agent", "other"),
    ],
)
def test_asking_for_a_person_does_not_outweigh_what_the_customer_asked_about(
    text: str, category: str
) -> None:
    assert RuleClassifier().classify(text).category == category
