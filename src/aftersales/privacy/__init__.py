"""Personal data in free text and records: finding it, redacting it, and which fields
hold it (issue 17). Pure: no desk, store or workflow imports."""

from aftersales.privacy.detect import (
    ADDRESS,
    ALL_KINDS,
    BANK_CARD,
    CN_RESIDENT_ID,
    EMAIL,
    PHONE,
    Finding,
    PersonalDataKind,
    find_personal_data,
)

__all__ = [
    "ADDRESS",
    "ALL_KINDS",
    "BANK_CARD",
    "CN_RESIDENT_ID",
    "EMAIL",
    "PHONE",
    "Finding",
    "PersonalDataKind",
    "find_personal_data",
]
