"""Redacting personal data in free text, and which fields of which records hold it.

A :class:`Redactor` replaces what :func:`~aftersales.privacy.find_personal_data` finds,
either by a token that names the kind (``[phone]``) or by a mask that keeps the
characters people use to tell numbers apart (``138****5678``, ``**** **** **** 1234``).
Its configuration is data, :class:`RedactionSettings`, so a desk can read it from JSON.

:data:`PERSONAL_FIELDS` declares which fields of the library's records hold personal
data; :func:`personal_keys` gives the key names to look for in events' payloads and
changes, where the same values travel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

import attrs
from pydantic import Field, field_validator

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Record
from aftersales.privacy.detect import (
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
    "PERSONAL_FIELDS",
    "RedactionSettings",
    "RedactionStyle",
    "Redactor",
    "extend_personal_fields",
    "personal_keys",
]

RedactionStyle = Literal["mask", "token"]
"""``"token"`` replaces a finding by its kind's token (``[phone]``); ``"mask"`` replaces
its letters and digits by the mask character, keeping separators and, for phones, cards
and resident IDs, the last four digits (and a phone's prefix), for e-mails the first
character and the domain."""

_EVERY_KIND: Final = tuple(sorted(ALL_KINDS))


class RedactionSettings(Record):
    """What a :class:`Redactor` redacts and how, as data (``RedactionSettings(**json)``).

    ``kinds`` names the kinds of personal data to redact (all by default; see
    :data:`~aftersales.privacy.ALL_KINDS`); ``style`` how (:data:`RedactionStyle`,
    ``"token"`` by default); ``token`` the text that replaces a finding in the token
    style, where ``{kind}`` stands for its kind; ``mask`` the character that hides one
    character in the mask style; ``region`` the country whose numbering phone numbers
    written without a country prefix follow. Invalid settings, an unknown kind among
    them, raise :class:`~aftersales.exceptions.InvalidInput`.
    """

    kinds: Annotated[tuple[str, ...], Field(min_length=1, max_length=len(ALL_KINDS))] = _EVERY_KIND
    style: RedactionStyle = "token"
    token: Annotated[str, Field(min_length=1, max_length=64)] = "[{kind}]"
    mask: Annotated[str, Field(min_length=1, max_length=1)] = "*"
    region: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "CN"

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(kinds) - ALL_KINDS)
        if unknown:
            raise ValueError(f"unknown kinds {', '.join(unknown)}; known: {', '.join(_EVERY_KIND)}")
        return tuple(sorted(set(kinds)))

    @field_validator("token")
    @classmethod
    def _one_placeholder(cls, token: str) -> str:
        try:
            token.format(kind=PHONE)
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                "may hold no placeholder but {kind} (write {{ and }} for braces)"
            ) from None
        return token


@attrs.frozen
class Redactor:
    """Replaces personal data in text as ``settings`` say.

    >>> Redactor().redact("请联系 13812345678 或 li.lei@example.com")
    '请联系 [phone] 或 [email]'
    >>> Redactor(RedactionSettings(style="mask")).redact("请联系 13812345678")
    '请联系 138****5678'
    """

    settings: RedactionSettings = attrs.field(factory=RedactionSettings)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Redactor:
        """A redactor configured by ``data``, the fields of :class:`RedactionSettings`
        (InvalidInput when they are not valid)."""
        if not isinstance(data, Mapping):
            raise InvalidInput(
                "RedactionSettings", [FieldError(("RedactionSettings",), "must be an object")]
            )
        return cls(RedactionSettings(**data))

    def redact(self, text: str) -> str:
        """``text`` with every finding of the configured kinds replaced."""
        return self.redact_with_findings(text)[0]

    def redact_with_findings(self, text: str) -> tuple[str, list[Finding]]:
        """``text`` with every finding of the configured kinds replaced, and those findings
        (their spans are positions in ``text``, not in the result)."""
        settings = self.settings
        findings = find_personal_data(text, kinds=settings.kinds, region=settings.region)
        if not findings:
            return text, findings
        parts: list[str] = []
        written = 0
        for finding in findings:
            parts.append(text[written : finding.start])
            if settings.style == "token":
                parts.append(settings.token.format(kind=finding.kind))
            else:
                parts.append(_masked(finding, settings.mask))
            written = finding.end
        parts.append(text[written:])
        return "".join(parts), findings


def _masked(finding: Finding, mask: str) -> str:
    """``finding``'s text with its letters and digits hidden by ``mask``, but for what
    :data:`RedactionStyle` says the mask style keeps."""
    text = finding.text
    if finding.kind == EMAIL:
        local, _, domain = text.partition("@")
        return local[0] + mask * (len(local) - 1) + "@" + domain
    positions = [index for index, char in enumerate(text) if char.isalnum()]
    kept = set(positions[-4:]) if finding.kind in _KEEPS_LAST_FOUR else set()
    if finding.kind == PHONE:
        # 138****5678, 010-****5678, +44 20 **** 0958: the network or area prefix stays.
        kept.update(positions[:-8])
    return "".join(
        char if index in kept or not char.isalnum() else mask for index, char in enumerate(text)
    )


_KEEPS_LAST_FOUR: Final[frozenset[PersonalDataKind]] = frozenset({PHONE, BANK_CARD, CN_RESIDENT_ID})

# --- which fields hold personal data -----------------------------------------------------

_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")

PERSONAL_FIELDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        # (not its tags: labels such as "vip" the shop gives, and a key tickets use too)
        "customer": frozenset({"name", "contacts.address", "contact_hours"}),
        "ticket": frozenset({"subject", "description", "resolution"}),
        "message": frozenset({"body"}),
        "case": frozenset(
            {
                "reason",
                "logistics.address",
                "complaint.summary",
                "complaint.proposal",
                "complaint.escalation_reason",
                "complaint.sign_off_note",
                "repair.diagnosis",
                # a claim's reason and fault are free text a customer may have written
                "lines.facts.claim.reason",
                "lines.facts.claim.defect",
                "lines.facts.claim.fault",
            }
        ),
        # a visit's details: where the technician goes and what they noted there
        "visit": frozenset({"details.address", "details.note"}),
        # what a customer said in a survey or on a return visit's call
        "survey": frozenset({"details.reason", "details.comment"}),
        "coupon": frozenset({"details.reason"}),
        "return_visit": frozenset(
            {"details.note", "details.reason", "details.attempts.note", "details.attempts.answers"}
        ),
        "event": frozenset(
            {
                "name",
                "phone",
                "phones",
                "email",
                "emails",
                "address",
                "addresses",
                "contacts",
                "subject",
                "description",
                "resolution",
                "body",
                "reason",
                "comment",
                "note",
                "notes",
            }
        ),
    }
)
"""Which fields hold personal data, per kind of record: ``customer``, ``ticket``,
``message``, ``case`` (every case kind) and ``event``.

A record's entry holds field paths: ``logistics.address`` is the ``address`` of the
case's ``logistics``; on a field holding a list (a customer's ``contacts``) the path
goes on into each element. The ``event`` entry holds key names that mark a personal
value wherever they occur in an event's ``payload`` or ``changes`` (a creation event's
changes hold the whole record). Extend it with :func:`extend_personal_fields`.
"""


def extend_personal_fields(
    extra: Mapping[str, Iterable[str]],
    base: Mapping[str, frozenset[str]] = PERSONAL_FIELDS,
) -> Mapping[str, frozenset[str]]:
    """A new read-only declaration: ``base`` with the paths of ``extra`` added, per
    record kind (a kind ``base`` lacks, such as a registered case kind, is added).

    >>> fields = extend_personal_fields({"warranty_claim": ["details.address"]})
    >>> sorted(fields["warranty_claim"]), "warranty_claim" in PERSONAL_FIELDS
    (['details.address'], False)
    """
    problems = [
        FieldError((kind, index), f"{path!r} is not a dotted field path", "field_path")
        for kind, paths in extra.items()
        for index, path in enumerate([paths] if isinstance(paths, str) else paths)
        if not (isinstance(path, str) and _PATH.match(path))
    ]
    if problems:
        raise InvalidInput("personal fields", problems)
    merged = dict(base)
    for kind, paths in extra.items():
        added = frozenset([paths] if isinstance(paths, str) else paths)
        merged[kind] = merged.get(kind, frozenset()) | added
    return MappingProxyType(merged)


def personal_keys(fields: Mapping[str, frozenset[str]] = PERSONAL_FIELDS) -> frozenset[str]:
    """The key names that mark personal values inside events' payload and changes JSON:
    the ``event`` entry of ``fields`` and the last part of every record field path in it
    (``logistics.address`` gives ``address``).

    >>> sorted(personal_keys() - PERSONAL_FIELDS["event"])  # doctest: +NORMALIZE_WHITESPACE
    ['answers', 'contact_hours', 'defect', 'diagnosis', 'escalation_reason', 'fault',
     'proposal', 'sign_off_note', 'summary']
    """
    keys = set(fields.get("event", frozenset()))
    for kind, paths in fields.items():
        if kind != "event":
            keys.update(path.rsplit(".", 1)[-1] for path in paths)
    return frozenset(keys)
