"""Firing a trigger on a remembered copy, deciding again when another writer was faster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from aftersales.exceptions import ConcurrencyError, TransitionError


class Versioned(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def version(self) -> int: ...


SubjectT = TypeVar("SubjectT", bound=Versioned)


def fire_with_retries(
    subject_id: str,
    *,
    recent: dict[str, SubjectT],
    read: Callable[[str], SubjectT],
    transition: Callable[[SubjectT], SubjectT],
    expected_version: int | None,
    attempts: int,
) -> SubjectT:
    """Run ``transition`` on the remembered copy of the subject (or a fresh read).

    Without ``expected_version``, a transition that loses a race to another writer is
    decided again on what is stored now, up to ``attempts`` times, as if the calls had run
    one after the other; with it, the caller asked to fail and ``ConcurrencyError`` is
    raised. A refusal decided on a remembered copy is decided again on a fresh read,
    because the copy may be stale.
    """
    for attempt in range(attempts):
        cached = recent.get(subject_id) if isinstance(subject_id, str) else None
        subject = read(subject_id) if cached is None else cached
        if expected_version is not None and subject.version != expected_version:
            if cached is None:
                raise ConcurrencyError(
                    subject.id, expected_version, subject.version, label=_label(subject)
                )
            del recent[subject.id]
            continue
        try:
            return transition(subject)
        except ConcurrencyError:
            if expected_version is not None or attempt == attempts - 1:
                raise
        except TransitionError:
            if cached is None:
                raise
        recent.pop(subject.id, None)
    raise AssertionError("unreachable")  # pragma: no cover


def _label(subject: object) -> str | None:
    """How an error names the subject to people: ``ticket #12`` for a numbered ticket."""
    number = getattr(subject, "display_number", None)
    return None if number is None else f"ticket {number}"
