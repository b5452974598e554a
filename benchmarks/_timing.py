"""Shared timing helpers: medians of repeated batches, printed as ratios to a floor."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable


def median_seconds(batch: Callable[[], object], per_batch: int, repeats: int = 15) -> float:
    """Median seconds per operation over ``repeats`` batches of ``per_batch`` operations."""
    batch()  # warm up caches, imports and lazily built validators
    samples = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()  # as timeit does: collector pauses are noise, not the code's cost
        try:
            start = time.perf_counter()
            batch()
            samples.append((time.perf_counter() - start) / per_batch)
        finally:
            gc.enable()
    return statistics.median(samples)


def back_to_back_median(call: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls made one right after another (the collector
    off): a query's own latency. Between median_seconds' samples the collector runs for a
    while, and a database server left idle that long answers its next query late, as
    does its (virtual) CPU; see idle_median for that figure."""
    call()
    samples = []
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
    finally:
        gc.enable()
    return statistics.median(samples)


def idle_median(call: Callable[[], object], repeats: int, pause: float = 0.05) -> float:
    """Median seconds of ``repeats`` calls, each after ``pause`` seconds of idling."""
    samples = []
    for _ in range(repeats):
        time.sleep(pause)
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def report(
    name: str,
    figure: float,
    floor: float,
    unit: str,
    target: str,
    ok: bool,
    ratio: float | None = None,
) -> bool:
    """Print one figure next to its floor and the ratio (``figure / floor`` unless given,
    e.g. as a :func:`median_ratio`); return whether it meets the target."""
    if ratio is None:
        ratio = figure / floor if floor else float("inf")
    verdict = "OK  " if ok else "MISS"
    print(f"{verdict} {name}: {figure:,.2f} {unit} vs floor {floor:,.2f} {unit} "
          f"= {ratio:.2f}x (target {target})")  # fmt: skip
    return ok


def interleaved_samples(
    batches: dict[str, Callable[[], object]],
    per_batch: int,
    repeats: int = 9,
    *,
    collect_first: bool = True,
) -> dict[str, list[float]]:
    """Seconds per operation of each batch in each round. The batches run in turns, so
    that all of a round's see the same machine state (page cache, file growth, CPU
    frequency, a neighbour's load).

    By default each batch runs after a full collection, with the collector paused. With
    ``collect_first=False`` nothing is collected first and the collector runs as it does
    in an app: for batches of well under a millisecond, a full collection walks the whole
    heap just before and leaves the CPU caches cold, which doubled what a page of 100
    rows read back measured (benchmarks/bench_rows.py)."""
    samples: dict[str, list[float]] = {name: [] for name in batches}
    for batch in batches.values():
        batch()
    for _ in range(repeats):
        for name, batch in batches.items():
            if collect_first:
                gc.collect()
                gc.disable()
            try:
                start = time.perf_counter()
                batch()
                samples[name].append((time.perf_counter() - start) / per_batch)
            finally:
                gc.enable()
    return samples


def interleaved_medians(
    batches: dict[str, Callable[[], object]], per_batch: int, repeats: int = 9
) -> dict[str, float]:
    """Median seconds per operation for each batch, run in turns (see above)."""
    samples = interleaved_samples(batches, per_batch, repeats)
    return {name: statistics.median(values) for name, values in samples.items()}


def median_ratio(faster: list[float], slower: list[float]) -> float:
    """The median over rounds of ``faster / slower`` seconds: each round's pair ran side
    by side, so a machine that slows down between rounds does not move the ratio."""
    return statistics.median(f / s for f, s in zip(faster, slower, strict=True))
