"""Classification throughput on 100-character messages (target: at least 20,000 a second),
next to the floor of normalising the same text (NFKC, lower case, simplified characters).

Three messages: English, simplified Chinese, traditional Chinese mixed with English. When
jieba is installed, one more line shows what segmenting each message with it would cost:
the reason the rules match Chinese by characters and leave segmentation out (see
docs/explanation/classifier.md).

Run: python benchmarks/bench_classifier.py
"""

from __future__ import annotations

import logging
import sys

from _timing import median_seconds, report
from aftersales.routing import RuleClassifier
from aftersales.routing._text import normalise

MESSAGES = [
    (
        "Hello, I ordered a blender last week and it arrived broken, the motor stopped working "
        "after one day. Refund?"
    )[:100],
    (
        "你好，我上周买的洗衣机送到以后就坏了，开机没反应，还有点漏水。请问是安排上门维修还是直接退货？"
        "麻烦尽快处理，谢谢！我的订单号是一二三四五六七八九零，收货地址没有变，电话也没变，等你们回复。"
        "另外发票也请一起寄给我，抬头是个人，谢谢。"
    )[:100],
    (
        "您好，我在網上買的ＴＶ用了兩天就壞了，still not working after a reset。不要退款，"
        "我想換一台新的，請問要多久？訂單號 A1234，謝謝！收貨地址沒變。發票也請補開，抬頭是公司，"
        "稅號稍後發給你們。另外遙控器也沒有反應，一起看看。"
    )[:100],
]
LANGUAGES = ("English", "simplified Chinese", "traditional Chinese + English")
TARGET = 20_000


def main() -> int:
    classifier = RuleClassifier()
    ok = True
    for text, language in zip(MESSAGES, LANGUAGES, strict=True):
        assert len(text) == 100

        def classify(text: str = text) -> None:
            for _ in range(2000):
                classifier.classify(text)

        def floor(text: str = text) -> None:
            for _ in range(2000):
                normalise(text)

        per_second = 1 / median_seconds(classify, 2000)
        floor_per_second = 1 / median_seconds(floor, 2000)
        ok &= report(
            f"classify 100-char {language} messages",
            per_second,
            floor_per_second,
            "msg/s",
            f">= {TARGET:,} msg/s",
            per_second >= TARGET,
        )
    segmenting_cost(classifier)
    return 0 if ok else 1


def segmenting_cost(classifier: RuleClassifier) -> None:
    """What segmenting with jieba would add: informative, not a target."""
    try:
        import jieba
    except ImportError:  # the zh extra is not installed
        print("(jieba not installed: segmentation not measured)")
        return
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    text = MESSAGES[1]

    def segment() -> None:
        for _ in range(200):
            tokenizer.lcut(text, HMM=False)

    def classify() -> None:
        for _ in range(200):
            classifier.classify(text)

    per_second = 1 / median_seconds(segment, 200, repeats=5)
    classify_per_second = 1 / median_seconds(classify, 200, repeats=5)
    report(
        "jieba.lcut alone on the simplified Chinese message (information)",
        per_second,
        classify_per_second,
        "msg/s",
        "none; the floor here is the rules' whole classification",
        True,
    )


if __name__ == "__main__":
    sys.exit(main())
