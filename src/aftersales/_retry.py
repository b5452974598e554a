"""Moved to :mod:`aftersales._pipeline` (the one write path); kept for its old importers."""

from __future__ import annotations

from aftersales._pipeline import Subject as Versioned
from aftersales._pipeline import fire_with_retries

__all__ = ["Versioned", "fire_with_retries"]
