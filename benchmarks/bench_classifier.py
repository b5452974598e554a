"""Classification throughput on 100-character messages (target: at least 20,000 a second),
next to the floor of normalising the same text (NFKC, lower case, simplified characters).

Run: python benchmarks/bench_classifier.py
"""

from __future__ import annotations

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
]


def main() -> int:
    classifier = RuleClassifier()
    ok = True
    for text in MESSAGES:
        assert len(text) == 100

        def classify(text: str = text) -> None:
            for _ in range(2000):
                classifier.classify(text)

        def floor(text: str = text) -> None:
            for _ in range(2000):
                normalise(text)

        per_second = 1 / median_seconds(classify, 2000)
        floor_per_second = 1 / median_seconds(floor, 2000)
        language = "Chinese" if not text.isascii() else "English"
        ok &= report(
            f"classify 100-char {language} messages",
            per_second,
            floor_per_second,
            "msg/s",
            ">= 20,000 msg/s",
            per_second >= 20_000,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
