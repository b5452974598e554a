"""Plug your own model behind the Classifier protocol, with the rules as a fallback.

The model here is a tiny naive Bayes trained on a few labelled messages, in plain Python,
so the template runs anywhere; put a scikit-learn pipeline or an LLM call in its place.

Run: python examples/custom_classifier.py
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from aftersales import Desk
from aftersales.routing import Classification, Classifier, InquiryContext, RuleClassifier

TRAINING = [
    ("my parcel never came", "delivery"),
    ("courier lost the box", "delivery"),
    ("the blender is broken", "repair_warranty"),
    ("it stopped working after a week", "repair_warranty"),
    ("I want my money back", "return_refund"),
    ("please refund the order", "return_refund"),
]


class NaiveBayes:
    """Word-count naive Bayes; falls back to the rules when it is not sure."""

    def __init__(self, examples: list[tuple[str, str]], fallback: Classifier) -> None:
        self.fallback = fallback
        self.words: dict[str, Counter[str]] = defaultdict(Counter)
        self.labels: Counter[str] = Counter()
        for text, label in examples:
            self.labels[label] += 1
            self.words[label].update(text.lower().split())
        self.vocabulary = {w for counts in self.words.values() for w in counts}

    def classify(self, text: str, context: InquiryContext | None = None) -> Classification:
        tokens = [t for t in text.lower().split() if t in self.vocabulary]
        rules = self.fallback.classify(text, context)  # severity and fallback come from the rules
        if not tokens:
            return rules
        scores = {}
        for label, count in self.labels.items():
            total = sum(self.words[label].values()) + len(self.vocabulary)
            scores[label] = math.log(count) + sum(
                math.log((self.words[label][t] + 1) / total) for t in tokens
            )
        best = max(scores, key=lambda label: scores[label])
        probabilities = {label: math.exp(score - scores[best]) for label, score in scores.items()}
        confidence = 1 / sum(probabilities.values())
        if confidence < 0.6:
            return rules
        return Classification(best, rules.severity, round(confidence, 3), ("model", *tokens))


model = NaiveBayes(TRAINING, fallback=RuleClassifier())
assert isinstance(model, Classifier)
for text in ("the courier lost my parcel", "it stopped working, refund?", "wie geht's"):
    result = model.classify(text)
    print(f"{text!r:34} -> {result.category} ({result.confidence}) {result.evidence[:3]}")

desk = Desk(classifier=model)
ticket = desk.open_ticket(customer="c1", channel="email", subject="courier lost the box")
print("desk:", desk.route(ticket.id).category)
