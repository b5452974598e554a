"""Synthetic data shared by the benchmarks."""

from __future__ import annotations

from datetime import datetime, timedelta

DUE_COLUMNS = (
    "id, number, workflow, status, status_category, version, customer_id, channel, "
    "created_at, sla_due_at, data"
)


def due_rows(count: int, now: datetime) -> list[tuple[object, ...]]:
    """``count`` ticket rows (in DUE_COLUMNS order): 1% due before ``now``, 29% due later,
    70% closed with nothing due."""
    rows: list[tuple[object, ...]] = []
    for number in range(1, count + 1):
        if number % 100 == 0:
            due = (now - timedelta(minutes=number % 997)).isoformat(timespec="microseconds")
        elif number % 10 < 3:
            due = (now + timedelta(minutes=1 + number % 9973)).isoformat(timespec="microseconds")
        else:
            due = None
        state = "closed" if due is None else "in_progress"
        category = "closed" if due is None else "open"
        rows.append(
            (
                f"t{number:07d}",
                number,
                "ticket",
                state,
                category,
                1,
                "c",
                "email",
                "2024-01-01T00:00:00.000000+00:00",
                due,
                "{}",
            )
        )
    return rows
