"""The tamper-evident audit: each subject's events form a hash chain.

Every event the write pipeline commits gets ``chain = HMAC(key, previous chain || content)``
where *content* is a canonical JSON of the event (subject, kind, sequence, trigger,
states, actor, time, payload, changes). The subject keeps the chain of its last event
(``audit_chain``), so editing, deleting, reordering or moving an event, even the last
one, breaks a link that :func:`verify_events` names.

Personal values (under the keys of :data:`PERSONAL_KEYS`, at any depth of payload and
changes) enter the content as a *seal*, ``HMAC(event salt, value)``, never as themselves.
Erasing them (:mod:`aftersales.privacy.erasure`) records each seal in ``Event.erased``
and drops the salt, so the chain still verifies and the erased value cannot be guessed
back from what is left (the salt is gone).

The key: with the default key anyone who can write the database can also rebuild the
chain; give the desk a secret kept outside the database (``DeskSettings.audit_key``) and
they cannot.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import timezone
from typing import Any

import attrs
from pydantic_core import to_jsonable_python

from aftersales.models._base import trusted
from aftersales.models.events import Event
from aftersales.privacy.redact import personal_keys

__all__ = [
    "DEFAULT_AUDIT_KEY",
    "PERSONAL_KEYS",
    "AuditFinding",
    "Chain",
    "erased_value",
]

DEFAULT_AUDIT_KEY = b"aftersales-audit-chain-v1"
"""The key of a desk that sets none: tamper-evident against edits, not against someone
who knows the algorithm and can write the database."""

PERSONAL_KEYS = personal_keys()
"""Keys whose values hold personal data wherever they appear in an event's payload or
changes (free text, names, contact points, addresses): those of
:data:`~aftersales.privacy.PERSONAL_FIELDS`. They are part of how events are sealed, like
the key: a desk that declares more personal fields seals its new events with them, and
checks its old events with the keys they were sealed with."""

ERASED = "[erased]"
"""What an erased text reads as."""

_UTC = timezone.utc


def erased_value(value: object) -> object:
    """What a personal value becomes when erased: ``"[erased]"`` for text, empty for a
    list or mapping, None otherwise (so the records it belongs to stay valid)."""
    if isinstance(value, str):
        return ERASED
    if isinstance(value, list | tuple):
        return []
    if isinstance(value, Mapping):
        return {}
    return None


def _canonical(value: object) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


@attrs.frozen
class AuditFinding:
    """One broken link: which subject, which event (its sequence, None for the subject
    itself) and what is wrong with it."""

    subject_id: str
    sequence: int | None
    problem: str

    def __str__(self) -> str:
        where = "" if self.sequence is None else f" event {self.sequence}"
        return f"{self.subject_id}{where}: {self.problem}"


class Chain:
    """Seals events into their subject's chain and verifies chains."""

    __slots__ = ("_key", "personal_keys")

    def __init__(
        self, key: bytes = DEFAULT_AUDIT_KEY, personal_keys: Iterable[str] = PERSONAL_KEYS
    ) -> None:
        self._key = key
        self.personal_keys = frozenset(personal_keys)

    # ------------------------------------------------------------------ content

    def _sealed(
        self, value: Any, path: str, salt: bytes | None, erased: Mapping[str, str]
    ) -> tuple[Any, bool]:
        """``value`` with each personal value replaced by its seal; and whether any was."""
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            found = False
            keys = self.personal_keys
            for key, item in value.items():
                where = f"{path}.{key}"
                if where in erased:
                    out[key] = "seal:" + erased[where]
                    found = True
                elif key in keys and item is not None and item != "" and item != []:
                    out[key] = self._seal(item, where, salt, erased)
                    found = True
                else:
                    out[key], inner = self._sealed(item, where, salt, erased)
                    found = found or inner
            return out, found
        if isinstance(value, list | tuple):
            items = []
            found = False
            for index, item in enumerate(value):
                sealed, inner = self._sealed(item, f"{path}.{index}", salt, erased)
                items.append(sealed)
                found = found or inner
            return items, found
        return value, False

    @staticmethod
    def _seal(value: Any, path: str, salt: bytes | None, erased: Mapping[str, str]) -> str:
        if salt is None:
            # No salt: a value that should have been sealed was written in the clear or
            # its salt was removed; the content then cannot match its chain.
            return "unsealed:" + hashlib.sha256(_canonical(value)).hexdigest()
        return "seal:" + hmac.new(salt, _canonical(value), hashlib.sha256).hexdigest()

    def seal_of(self, value: Any, salt: str) -> str:
        """The seal of one personal value under an event's salt (what erasure keeps)."""
        return hmac.new(bytes.fromhex(salt), _canonical(value), hashlib.sha256).hexdigest()

    def _content(self, event: Event, salt: bytes | None) -> tuple[bytes, bool]:
        erased = event.erased or {}
        payload, in_payload = self._sealed(
            to_jsonable_python(event.payload), "payload", salt, erased
        )
        changes, in_changes = self._sealed(
            to_jsonable_python(event.changes), "changes", salt, erased
        )
        content = _canonical(
            [
                event.subject_id,
                event.subject_kind,
                event.sequence,
                event.trigger,
                event.from_state,
                event.to_state,
                event.actor,
                event.at.astimezone(_UTC).isoformat(timespec="microseconds"),
                payload,
                changes,
            ]
        )
        return content, in_payload or in_changes

    def _link(self, previous: str, content: bytes) -> str:
        return hmac.new(self._key, previous.encode() + b"|" + content, hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ writing

    def seal(self, events: Sequence[Event], previous: str | None) -> tuple[list[Event], str]:
        """``events`` (one subject's, in order) with their salt and chain set, after the
        chain ``previous`` (None for a subject's first event, or one written before the
        chain existed); and the new head."""
        head = previous or ""
        sealed: list[Event] = []
        for event in events:
            salt = secrets.token_bytes(16)
            content, personal = self._content(event, salt)
            head = self._link(head, content)
            values = dict(event.__dict__)
            values["chain"] = head
            values["salt"] = salt.hex() if personal else None
            sealed.append(trusted(Event, values))
        return sealed, head

    # ------------------------------------------------------------------ checking

    def verify(
        self, subject_id: str, events: Sequence[Event], head: str | None, version: int
    ) -> list[AuditFinding]:
        """Every broken link of one subject's stored events (as the store lists them, in
        sequence order) against the subject's ``audit_chain`` ``head`` and ``version``."""
        findings: list[AuditFinding] = []

        def broken(sequence: int | None, problem: str) -> None:
            findings.append(AuditFinding(subject_id, sequence, problem))

        previous = ""
        started = False
        for position, event in enumerate(events, start=1):
            if event.subject_id != subject_id:
                broken(event.sequence, f"belongs to subject {event.subject_id}")
            if event.sequence != position:
                broken(
                    event.sequence,
                    f"stored at position {position}: an event is missing or out of order",
                )
            if event.chain is None:
                if started:
                    broken(event.sequence, "has no chain after chained events")
                continue
            started = True
            salt = None if event.salt is None else bytes.fromhex(event.salt)
            content, _ = self._content(event, salt)
            expected = self._link(previous, content)
            if not hmac.compare_digest(expected, event.chain):
                broken(event.sequence, "edited, or the event before it was changed or removed")
            previous = event.chain
        last = events[-1].sequence if events else 0
        if len(events) != version or last != version:
            broken(None, f"has version {version} but {len(events)} events")
        if started and head != previous:
            broken(None, "its last events were removed or replaced (the head does not match)")
        return findings
