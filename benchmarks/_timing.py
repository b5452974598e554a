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


def report(name: str, figure: float, floor: float, unit: str, target: str, ok: bool) -> bool:
    """Print one figure next to its floor and the ratio; return whether it meets the target."""
    ratio = figure / floor if floor else float("inf")
    verdict = "OK  " if ok else "MISS"
    print(f"{verdict} {name}: {figure:,.2f} {unit} vs floor {floor:,.2f} {unit} "
          f"= {ratio:.2f}x (target {target})")  # fmt: skip
    return ok


def interleaved_medians(
    batches: dict[str, Callable[[], object]], per_batch: int, repeats: int = 9
) -> dict[str, float]:
    """Median seconds per operation for each batch, run in turns so that both see the same
    machine state (page cache, file growth, CPU frequency)."""
    samples: dict[str, list[float]] = {name: [] for name in batches}
    for batch in batches.values():
        batch()
    for _ in range(repeats):
        for name, batch in batches.items():
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                batch()
                samples[name].append((time.perf_counter() - start) / per_batch)
            finally:
                gc.enable()
    return {name: statistics.median(values) for name, values in samples.items()}
