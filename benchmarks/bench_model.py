"""Throughput of the trained classifier, one core (target: at least 2,000 messages a
second), next to floors measured in the same run: the n-gram extraction alone (the pure
Python part no model can skip), scikit-learn's own per-message path (its vectoriser and
classifier called for one message at a time) and the rule classifier.

The model is the one model_eval.py measures, trained here on the same training splits
(about ten seconds); the messages are rows of the test splits (Bitext, CLINC150
out-of-scope, the Chinese test split and CrossWOZ), in Chinese and English, mostly 10 to
100 characters.

Run: python benchmarks/bench_model.py
"""

from __future__ import annotations

import os
import sys

from _timing import interleaved_medians, report
from aftersales.routing import RuleClassifier
from aftersales.routing._model_features import ngrams, normalise
from aftersales.routing.model import ModelClassifier, train_classifier
from model_eval import test_sets, training_rows

TARGET = 2_000
BATCH = 500


def main() -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as promised
    training = training_rows()
    model = train_classifier(training)
    tests = test_sets([])
    share = BATCH // len(tests) + 1  # as many from each test set
    messages = [row.text for rows in tests.values() for row in rows[:share]][:BATCH]
    print(f"{len(training)} training rows, {len(model.parameters.vocabulary)} features")

    from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
    from sklearn.svm import LinearSVC  # type: ignore[import-untyped]

    fold = model.parameters.fold
    vectoriser = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True)
    matrix = vectoriser.fit_transform([ngrams(normalise(r.text, fold)) for r in training])
    svm = LinearSVC(C=3.0).fit(matrix, [r.category for r in training])
    rules = RuleClassifier()
    with_rules = ModelClassifier(model.parameters, severity="max")

    def run_model() -> None:
        for text in messages:
            model.classify(text)

    def run_model_and_rules() -> None:
        for text in messages:
            with_rules.classify(text)

    def run_ngrams() -> None:
        for text in messages:
            ngrams(normalise(text, fold))

    def run_sklearn() -> None:
        for text in messages:
            svm.decision_function(vectoriser.transform([ngrams(normalise(text, fold))]))

    def run_rules() -> None:
        for text in messages:
            rules.classify(text)

    seconds = interleaved_medians(
        {
            "model": run_model,
            "model+rules": run_model_and_rules,
            "ngrams": run_ngrams,
            "sklearn": run_sklearn,
            "rules": run_rules,
        },
        BATCH,
        repeats=7,
    )
    rate = {name: 1 / value for name, value in seconds.items()}
    ok = report(
        "ModelClassifier.classify, one core",
        rate["model"],
        rate["ngrams"],
        "msg/s",
        f">= {TARGET:,} msg/s; floor = n-gram extraction alone",
        rate["model"] >= TARGET,
    )
    report(
        "ModelClassifier.classify vs scikit-learn per message",
        rate["model"],
        rate["sklearn"],
        "msg/s",
        "faster than scikit-learn's per-message path",
        rate["model"] > rate["sklearn"],
    )
    report(
        "ModelClassifier(severity='max').classify (model + rules)",
        rate["model+rules"],
        rate["rules"],
        "msg/s",
        f">= {TARGET:,} msg/s; floor = the rules alone",
        rate["model+rules"] >= TARGET,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
