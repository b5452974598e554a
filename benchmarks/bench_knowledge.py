"""Knowledge-base suggestion latency at 10,000 published articles (target: p99 at most
5 ms), next to floors measured in the same run: the bm25s scoring call alone for the same
query terms, and a dict lookup.

The articles are built from the bilingual fixtures in tests/data/kb/ (sentences of the
same language recombined, one of 50 product tags each), so the vocabulary and lengths
look like a real help centre's; the queries are the fixture queries.

Run: python benchmarks/bench_knowledge.py
"""

from __future__ import annotations

import gc
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from _timing import report
from aftersales.knowledge import Article, ArticleIndex, ArticleStatus

DATA = Path(__file__).parent.parent / "tests" / "data" / "kb"
COUNT = 10_000
NOW = datetime(2024, 3, 4, tzinfo=timezone.utc)
_SENTENCE = re.compile(r"[^.。！？!?]+[.。！？!?]?")


def articles(count: int) -> list[Article]:
    """``count`` published articles recombined from the fixtures' sentences."""
    fixtures = json.loads((DATA / "articles.json").read_text(encoding="utf-8"))
    sentences: dict[str, list[str]] = {"en": [], "zh": []}
    for fixture in fixtures:
        sentences[fixture["language"]].extend(
            s.strip() for s in _SENTENCE.findall(fixture["body"]) if s.strip()
        )
    rng = random.Random(21)
    products = [f"product-{n:02d}" for n in range(50)]
    made = []
    for number in range(count):
        fixture = fixtures[number % len(fixtures)]
        language = fixture["language"]
        body = " ".join(rng.sample(sentences[language], rng.randint(4, 8)))
        made.append(
            Article(
                id=f"a{number:05d}",
                language=language,
                category=fixture["category"],
                products=(rng.choice(products),),
                status=ArticleStatus.PUBLISHED,
                title=f"{fixture['title']} ({number})",
                body=f"{fixture['body']} {body}",
                editor="bench",
                edited_at=NOW,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return made


def latencies(call: Callable[[str], object], queries: list[str], rounds: int) -> list[float]:
    """Seconds of each call, every query ``rounds`` times, the collector off."""
    for query in queries:
        call(query)  # warm up
    samples = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for query in queries:
                start = time.perf_counter()
                call(query)
                samples.append(time.perf_counter() - start)
    finally:
        gc.enable()
    return samples


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    built = articles(COUNT)
    start = time.perf_counter()
    index = ArticleIndex(built)
    index.suggest("warm")  # builds the index: segments and stems every article
    build_seconds = time.perf_counter() - start
    print(f"index of {len(index):,} articles built in {build_seconds:.1f} s (once, at start-up)")
    queries = [q["text"] for q in json.loads((DATA / "queries.json").read_text(encoding="utf-8"))]
    # The floor: the bm25s scoring call alone, on the term ids suggest would pass it.
    snapshot = index._current()
    retriever = snapshot.retriever
    vocabulary = snapshot.vocabulary
    analyzer = index._analyzer
    term_ids = {
        q: [vocabulary[t] for t in set(analyzer.terms(q)) if t in vocabulary] or [0]
        for q in queries
    }
    table = {q: q for q in queries}
    suggest = latencies(index.suggest, queries, 20)
    filtered = latencies(
        lambda q: index.suggest(q, language="en", product="product-07"), queries, 20
    )
    scoring = latencies(lambda q: retriever.get_scores(term_ids[q]), queries, 20)
    lookup = latencies(table.__getitem__, queries, 20)
    ms = 1000
    edited = built[0].model_copy(update={"version": 2, "body": built[0].body + " Edited."})
    start = time.perf_counter()
    index.update(edited)
    index.suggest("warm")  # the rebuild after a publish re-segments only the edited article
    print(f"rebuild after one article changed: {(time.perf_counter() - start) * ms:.0f} ms")
    floor_p50 = statistics.median(scoring) * ms
    print(f"floor: dict lookup p50 {statistics.median(lookup) * 1e6:.2f} µs")
    ok = True
    for name, samples in (("suggest", suggest), ("suggest, language+product", filtered)):
        p50 = statistics.median(samples) * ms
        p99 = percentile(samples, 0.99) * ms
        ok &= report(f"{name} p50 at {COUNT:,} articles", p50, floor_p50, "ms", "<= 5 ms", p50 <= 5)
        ok &= report(
            f"{name} p99 at {COUNT:,} articles",
            p99,
            percentile(scoring, 0.99) * ms,
            "ms",
            "<= 5 ms",
            p99 <= 5,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
