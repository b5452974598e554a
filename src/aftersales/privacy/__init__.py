"""Personal data in free text and records: finding it, redacting it, and which fields
hold it (issue 17). Pure: no desk, store or workflow imports."""

from aftersales.privacy.audit import AuditFinding
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
from aftersales.privacy.redact import (
    PERSONAL_FIELDS,
    RedactionSettings,
    RedactionStyle,
    Redactor,
    extend_personal_fields,
    personal_keys,
)

__all__ = [
    "ADDRESS",
    "ALL_KINDS",
    "BANK_CARD",
    "CN_RESIDENT_ID",
    "EMAIL",
    "PERSONAL_FIELDS",
    "PHONE",
    "AuditFinding",
    "Finding",
    "PersonalDataKind",
    "RedactionSettings",
    "RedactionStyle",
    "Redactor",
    "extend_personal_fields",
    "find_personal_data",
    "personal_keys",
]
