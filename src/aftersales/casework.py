"""Deprecated home of the case desk: the names moved to :mod:`aftersales.cases` (one
module per case kind, the desk generic over a registry of kinds). Kept so that
``from aftersales.casework import CaseDesk`` keeps working."""

from aftersales.cases import (
    DEFAULT_STEP_LIMITS,
    LINE_CHANGES,
    CaseDesk,
    ClaimLine,
    DueCase,
    Inventory,
    MemoryInventory,
    Policy,
    StepLimit,
    fold_case,
)

__all__ = [
    "DEFAULT_STEP_LIMITS",
    "LINE_CHANGES",
    "CaseDesk",
    "ClaimLine",
    "DueCase",
    "Inventory",
    "MemoryInventory",
    "Policy",
    "StepLimit",
    "fold_case",
]
