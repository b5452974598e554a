"""The tamper-evident audit: each subject's events form a hash chain.

Every event the write pipeline commits gets ``chain = HMAC(key, previous chain || content)``
where *content* is a canonical JSON of the event (subject, kind, sequence, trigger,
states, actor, time, payload, changes). The subject keeps the chain of its last event
(``audit_chain``), so editing, deleting, reordering or moving an event, even the last
one, breaks a link that :func:`verify_events` names.

Personal values (under the keys of :data:`PERSONAL_KEYS`, at any depth of payload and
changes) enter the content as a *seal*, ``HMAC(key, event salt | value)``, never as
themselves. Erasing them (:mod:`aftersales.compliance.erasure`) records each erased
value's seal in ``Event.erased``, so the chain still verifies; a value found at an erased
path that is not the erased marker is reported, and without the key no one can make the
seal of a value of their own.

The key: with the default key anyone who can write the database can also rebuild the
chain; give the desk a secret kept outside the database (``DeskSettings.audit_key``) and
they cannot.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping, Sequence
from itertools import compress
from typing import Any, Protocol, overload

import attrs
from pydantic_core import SchemaSerializer, core_schema
from pydantic_core import to_json as _to_json

from aftersales._utc_text import utc_text
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


_KEEP: Any = object()
_urandom = os.urandom


class _KeyedHmac(Protocol):
    """What a seal uses of a keyed HMAC object (``hmac.HMAC`` and OpenSSL's alike)."""

    def copy(self) -> _KeyedHmac: ...
    def update(self, message: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def _keyed_hmac(key: bytes) -> _KeyedHmac:
    """The keyed HMAC-SHA256 object each message copies: OpenSSL's own where the stdlib
    built on one (``hmac.HMAC`` wraps it in Python, and its ``copy`` and ``hexdigest``
    cost a seal about 5,000 instructions more), else the stdlib's. Both have ``copy``,
    ``update`` and ``hexdigest`` and give the same digests (a test compares them)."""
    keyed = hmac.new(key, digestmod="sha256")
    openssl: _KeyedHmac | None = getattr(keyed, "_hmac", None)
    return keyed if openssl is None else openssl


class _Hmac:
    """HMAC-SHA256 under one key: the stdlib's keyed object, made once and copied for
    each message. ``hmac.digest(key, message, "sha256")`` gives the same bytes (a test
    compares them) but has OpenSSL look the algorithm up and hash both padded keys on
    every call, most of a seal's cost."""

    __slots__ = ("_keyed",)

    def __init__(self, key: bytes) -> None:
        self._keyed = _keyed_hmac(key)

    def hex(self, message: bytes) -> str:
        mac = self._keyed.copy()
        mac.update(message)
        return mac.hexdigest()


def _canonical(value: object) -> bytes:
    return _to_json(value)


_TEXT = core_schema.str_schema()
_JSON = core_schema.dict_schema(core_schema.any_schema(), core_schema.any_schema())
_content_json = SchemaSerializer(
    core_schema.tuple_schema(
        [
            *(_TEXT, _TEXT),  # subject_id, subject_kind
            core_schema.int_schema(),  # sequence
            *(_TEXT, core_schema.nullable_schema(_TEXT), _TEXT),  # trigger, from/to state
            *(_TEXT, _TEXT),  # actor, at (as text)
            *(_JSON, _JSON),  # payload, changes
        ]
    )
).to_json
"""An event's content (see :meth:`Chain._content`) as JSON: the same bytes as ``to_json``
of the tuple, a tenth cheaper, since the types of its fields (an event's, validated) are
declared rather than inferred from each value."""

_CONTAINERS = frozenset({dict, list})
_is_container = _CONTAINERS.__contains__


class _Sealer:
    """Seals personal values under the chain's key and one event's salt (made on first
    use when writing); remembers whether an erased value was found written over."""

    __slots__ = ("keyed", "make", "overwritten", "prefix", "salt")

    def __init__(self, mac: _Hmac, salt: bytes | None, *, make: bool = False) -> None:
        self.keyed = mac._keyed
        self.make = make
        self.overwritten = False
        # start(salt), inlined: the write path makes a sealer on every commit
        self.salt = salt
        self.prefix = None if salt is None else salt + b"|"

    def start(self, salt: bytes | None) -> None:
        """Seal the next values under ``salt`` (None: a new one when writing)."""
        self.salt = salt
        self.prefix = None if salt is None else salt + b"|"

    def seal(self, value: Any) -> str:
        """``value``'s seal: ``"seal:" + HMAC(key, salt | canonical value)``, keyed as well
        as salted, so without the key no one can make the seal of a value they would write
        in place of an erased one. Inlined (no ``_Hmac.hex``, no ``__call__``): a creation
        event seals several values, and each layer of calls cost a quarter of a seal."""
        prefix = self.prefix
        if prefix is None:
            if not self.make:
                # No salt: a value that should have been sealed was written in the clear
                # or its salt was removed; the content then cannot match its chain.
                return "unsealed:" + hashlib.sha256(_canonical(value)).hexdigest()
            salt = self.salt = _urandom(16)
            prefix = self.prefix = salt + b"|"
        mac = self.keyed.copy()
        mac.update(prefix + _to_json(value))
        return "seal:" + mac.hexdigest()


def _seal(mac: _Hmac, salt: bytes, value: Any) -> str:
    # what _Sealer.seal makes of a value, without the prefix
    return mac.hex(salt + b"|" + _canonical(value))


def _is_erased(value: Any) -> bool:
    return value is None or value == ERASED or value == [] or value == {}


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

    __slots__ = ("_mac", "personal_keys")

    def __init__(
        self, key: bytes = DEFAULT_AUDIT_KEY, personal_keys: Iterable[str] = PERSONAL_KEYS
    ) -> None:
        self._mac = _Hmac(key)
        self.personal_keys = frozenset(personal_keys)

    # ------------------------------------------------------------------ content

    def _sealed(
        self, value: dict[str, Any], path: str, seal: _Sealer, erased: Mapping[str, str]
    ) -> dict[str, Any] | None:
        """A copy of ``value`` with each personal value replaced by its seal, or None when
        it holds none (the common case costs one pass and no copy)."""
        out: dict[str, Any] | None = None
        personal = self.personal_keys
        # one pass in the dict's order (the seals do not depend on it); a personal key's
        # value is sealed whole, even a dict or a list
        for key, item in value.items():
            if key in personal:
                if item is not None and item != "" and item != []:
                    if out is None:
                        out = dict(value)
                    out[key] = seal.seal(item)
            # an empty dict or list holds nothing to seal (and no key an erased path names)
            elif type(item) in _CONTAINERS and item:
                where = f"{path}.{key}"
                inner = (
                    self._sealed(item, where, seal, erased)
                    if type(item) is dict
                    else self._sealed_list(item, where, seal, erased)
                )
                if inner is not None:
                    if out is None:
                        out = dict(value)
                    out[key] = inner
        if erased:
            prefix = path + "."
            for where, kept in erased.items():
                key = where[len(prefix) :]
                if where.startswith(prefix) and "." not in key and key in value:
                    if out is None:
                        out = dict(value)
                    out[key] = "seal:" + kept
                    if not _is_erased(value[key]):
                        seal.overwritten = True
        return out

    def _sealed_list(
        self, items: list[Any], path: str, seal: _Sealer, erased: Mapping[str, str]
    ) -> list[Any] | None:
        out: list[Any] | None = None
        # the positions holding a dict or a list, picked out in C: most lists (tags) hold
        # text only
        for index in compress(range(len(items)), map(_is_container, map(type, items))):
            item = items[index]
            where = f"{path}.{index}"
            inner = (
                self._sealed(item, where, seal, erased)
                if type(item) is dict
                else self._sealed_list(item, where, seal, erased)
            )
            if inner is not None:
                if out is None:
                    out = list(items)
                out[index] = inner
        return out

    def seal_of(self, value: Any, salt: str) -> str:
        """The seal of one personal value under an event's salt (what erasure keeps)."""
        return _seal(self._mac, bytes.fromhex(salt), value)

    @overload
    def _content(self, event: dict[str, Any], sealer: _Sealer) -> bytes: ...
    @overload
    def _content(self, event: dict[str, Any], sealer: None) -> bytes | None: ...

    def _content(self, event: dict[str, Any], sealer: _Sealer | None) -> bytes | None:
        """The canonical bytes the chain hashes of an event's fields (its ``__dict__``:
        read there, not as attributes, which a pydantic model answers slowly), personal
        values sealed by ``sealer``; without one, None if the event holds anything to
        seal (the write path makes a sealer only then).

        Payload and changes are JSON values kept in the order they were written (stores
        keep the event's JSON text as written), serialised as the stores serialise them."""
        erased = event["erased"] or {}
        payload = event["payload"]
        changes = event["changes"]
        personal = self.personal_keys
        # a dict without a personal key, a nested value or an erased path (most of a
        # transition's) holds nothing to seal: told in C, without _sealed's walk
        if payload and (
            erased
            or not personal.isdisjoint(payload)
            or not _CONTAINERS.isdisjoint(map(type, payload.values()))
        ):
            if sealer is None:
                return None
            payload = self._sealed(payload, "payload", sealer, erased) or payload
        if changes and (
            erased
            or not personal.isdisjoint(changes)
            or not _CONTAINERS.isdisjoint(map(type, changes.values()))
        ):
            if sealer is None:
                return None
            changes = self._sealed(changes, "changes", sealer, erased) or changes
        return _content_json(
            (
                event["subject_id"],
                event["subject_kind"],
                event["sequence"],
                event["trigger"],
                event["from_state"],
                event["to_state"],
                event["actor"],
                utc_text(event["at"]),
                payload,
                changes,
            )
        )

    def _link(self, previous: str, content: bytes) -> str:
        return self._mac.hex(previous.encode() + b"|" + content)

    # ------------------------------------------------------------------ writing

    def seal(self, events: Sequence[Event], previous: str | None) -> tuple[list[Event], str]:
        """``events`` (one subject's, in order) with their salt and chain set, after the
        chain ``previous`` (None for a subject's first event, or one written before the
        chain existed); and the new head."""
        head = previous or ""
        sealed: list[Event] = []
        # one sealer for the batch: each event starts without a salt and makes its own
        sealer = _Sealer(self._mac, None, make=True)
        for event in events:
            values = event.__dict__
            sealer.start(None)
            head = self._link(head, self._content(values, sealer))
            salt = sealer.salt
            sealed.append(
                trusted(
                    Event, {**values, "chain": head, "salt": None if salt is None else salt.hex()}
                )
            )
        return sealed, head

    def seal_built(
        self, events: Sequence[Event], previous: str | None
    ) -> tuple[Sequence[Event], str]:
        """:meth:`seal` for the write pipeline, whose events were just built and are seen by
        no one else yet: each one's salt and chain are written into it rather than into a
        copy (the copy was a tenth of a seal), and ``events`` are answered with the new
        head. A batch holding an event that has a chain or a salt already (one committed
        before) is sealed into copies, as :meth:`seal` does."""
        fields = []  # each event's __dict__, read once (a model's is read through a hook)
        for event in events:
            values = event.__dict__
            if values["chain"] is not None or values["salt"] is not None:
                return self.seal(events, previous)
            fields.append(values)
        head = previous or ""
        # made for the first event that holds a personal value (a transition's seldom
        # does: most commits make none)
        sealer: _Sealer | None = None
        keyed = self._mac._keyed
        content = self._content
        for values in fields:
            text = content(values, None)
            if text is None:
                if sealer is None:
                    sealer = _Sealer(self._mac, None, make=True)
                elif sealer.salt is not None:
                    sealer.start(None)  # the event before made a salt: this one its own
                text = content(values, sealer)
                salt = sealer.salt
                if salt is not None:
                    values["salt"] = salt.hex()
            mac = keyed.copy()
            mac.update(head.encode() + b"|" + text)  # _link, inlined
            head = values["chain"] = mac.hexdigest()
        return events, head

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
            sealer = _Sealer(self._mac, salt)
            expected = self._link(previous, self._content(event.__dict__, sealer))
            if sealer.overwritten:
                broken(event.sequence, "an erased personal value was written over")
            if not hmac.compare_digest(expected, event.chain):
                broken(event.sequence, "edited, or the event before it was changed or removed")
            previous = event.chain
        last = events[-1].sequence if events else 0
        if len(events) != version or last != version:
            broken(None, f"has version {version} but {len(events)} events")
        if started and head != previous:
            broken(None, "its last events were removed or replaced (the head does not match)")
        return findings
