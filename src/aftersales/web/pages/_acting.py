"""Acting as the customer a signed link speaks for.

``Desk.add_message`` takes the author's id, not a principal; on a desk with permissions
the check would look that id up in the desk's directory, which need not know every
customer. The signed link is the proof of who writes, as the survey token is for
``desk.surveys.answer``, so the reply runs with the customer's principal as the acting
one (what ``actor=Principal`` does for the desk's other commands), for that call only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aftersales._validation import ACTING
from aftersales.security import Principal

__all__ = ["as_customer"]


@contextmanager
def as_customer(principal: Principal) -> Iterator[None]:
    """Run the block with ``principal`` acting; its roles end with the block."""
    token = ACTING.set(principal)
    try:
        yield
    finally:
        ACTING.reset(token)
