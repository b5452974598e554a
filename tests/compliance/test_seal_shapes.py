"""The seal's values pinned over every shape a personal value takes in an event: at the
top of payload and changes, nested in mappings and in lists of mappings and of lists, as
text (ASCII, not ASCII, escaped characters), numbers, lists and mappings under a personal
key, empty ones (not sealed), and the erased paths an erasure leaves. The values were
computed with the sealing as it was before it was made cheaper (the code of
``Chain._sealed`` that walked every value through ``_Sealer.__call__``), so old chains of
any of these shapes still verify; erasing any of their personal values keeps them
verifying."""

from __future__ import annotations

import copy
import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from aftersales.compliance.erasure import _sealed_values
from aftersales.models import Event
from aftersales.models.events import build_event
from aftersales.privacy import audit
from aftersales.privacy.audit import Chain, erased_value

AT = datetime(2024, 3, 4, 9, 0, 0, 5, tzinfo=timezone.utc)

EXPECTED = [
    (
        "5c90c8602710caf3688f2d5a2cbc9a0ce57c42e5f1c2f59f083cc48c96193206",
        "00000000000000000000000000000000",
    ),
    (
        "a413464b600b7708c5877dcdc9f954a9e303d76ea9bf1b38f298bd259130d7fb",
        "01010101010101010101010101010101",
    ),
    (
        "f5c048754a5e0d2c63ef7d8c4746b433036a2a8369e3c36585dd617703a92e92",
        "02020202020202020202020202020202",
    ),
    ("1d2c511c38f74ede050c5f5c055067980a146d3bff43842a7ac781822d9c9e64", None),
    (
        "4832521d0bda32b407437369234879fd8162a930c0278214a9667ca00253b9d2",
        "03030303030303030303030303030303",
    ),
]
"""(chain, salt) of each event of :func:`_events`, in order; the fourth holds no
personal value, so it makes no salt."""
HEAD = "4832521d0bda32b407437369234879fd8162a930c0278214a9667ca00253b9d2"


def _events() -> list[Event]:
    def event(sequence: int, payload: dict[str, Any], changes: dict[str, Any]) -> Event:
        return build_event(
            "t-9",
            "ticket",
            sequence,
            "created" if sequence == 1 else "step",
            None if sequence == 1 else "open",
            "open",
            "agent-1",
            AT + timedelta(minutes=sequence),
            payload,
            changes,
        )

    return [
        event(
            1,
            {},
            {
                "id": "t-9",
                "number": 9,
                "subject": '洗衣机漏水 "quoted" \\ back\nslash',
                "description": "It leaks.\u2028\x01",
                "resolution": "",
                "tags": ["a", "b"],
                "priority": "normal",
                "created_at": "2024-03-04T09:00:00Z",
                "escalation_level": 0,
            },
        ),
        event(2, {"note": "call me on +86 10 1234 5678", "reason": None}, {"status": "open"}),
        event(
            3,
            {
                "contact": {"phone": "+86 10", "email": "a@b.cn", "kind": "home"},
                "lines": [
                    {"sku": "S-1", "defect": "cracked", "notes": ["one", "two"]},
                    {"sku": "S-2", "defect": ""},
                    [{"comment": "deep"}, ["x", {"summary": "deeper"}]],
                ],
                "answers": {"q1": "yes", "q2": 3},
                "phones": ["+86 1", "+86 2"],
                "empty": {},
                "none": [],
            },
            {"name": 42, "address": 1.5, "fault": True, "proposal": []},
        ),
        event(4, {}, {}),
        event(5, {"summary": {"inner": {"note": "not reached: the outer is sealed"}}}, {}),
    ]


def _sealed_with_fixed_salts(
    monkeypatch: pytest.MonkeyPatch, events: list[Event] | None = None
) -> tuple[list[Event], str]:
    counter = itertools.count()
    monkeypatch.setattr(audit, "_urandom", lambda size: bytes([next(counter)] * size))
    return Chain().seal(_events() if events is None else events, None)


def test_every_shape_seals_to_the_values_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    sealed, head = _sealed_with_fixed_salts(monkeypatch)
    assert [(event.chain, event.salt) for event in sealed] == EXPECTED
    assert head == HEAD == EXPECTED[-1][0]
    assert Chain().verify("t-9", sealed, head, len(sealed)) == []


def _erased(chain: Chain, event: Event) -> Event:
    """``event`` with every personal value erased and their seals kept, as
    :meth:`aftersales.compliance.erasure.Eraser.event` erases a payload."""
    values = copy.deepcopy(event.__dict__)
    erased: dict[str, str] = {}
    for root in ("payload", "changes"):
        for path, value, parent, key in _sealed_values(
            values[root], chain.personal_keys, root, erased
        ):
            assert event.salt is not None
            erased[path] = chain.seal_of(value, event.salt)
            parent[key] = erased_value(value)
    values["erased"] = erased or None
    values["salt"] = None
    return Event.model_validate(values)


def _sealed_values_in(event: Event) -> int:
    keys = Chain().personal_keys
    erased = event.erased or {}
    return sum(
        len(list(_sealed_values(event.__dict__[root], keys, root, erased)))
        for root in ("payload", "changes")
    )


def test_erasing_every_personal_value_keeps_the_chain_verifying(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain = Chain()
    sealed, head = _sealed_with_fixed_salts(monkeypatch)
    erased = [_erased(chain, event) for event in sealed]
    assert [_sealed_values_in(event) for event in sealed] == [2, 1, 11, 0, 1]
    assert all(_sealed_values_in(event) == 0 for event in erased)
    assert sorted(erased[2].erased or {}) == [
        "changes.address",
        "changes.fault",
        "changes.name",
        "payload.answers",
        "payload.contact.email",
        "payload.contact.phone",
        "payload.lines.0.defect",
        "payload.lines.0.notes",
        "payload.lines.2.0.comment",
        "payload.lines.2.1.1.summary",
        "payload.phones",
    ]
    assert chain.verify("t-9", erased, head, len(erased)) == []


def test_a_value_written_over_an_erased_one_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = Chain()
    sealed, head = _sealed_with_fixed_salts(monkeypatch)
    erased = [_erased(chain, event) for event in sealed]
    payload = dict(erased[1].payload, note="someone else's number")
    erased[1] = erased[1].model_copy(update={"payload": payload})
    [finding] = chain.verify("t-9", erased, head, len(erased))
    assert (finding.sequence, finding.problem) == (2, "an erased personal value was written over")


def test_each_sealed_value_is_the_seal_an_erasure_makes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value of another salt or key, or changed, breaks its event's link."""
    chain = Chain()
    sealed, head = _sealed_with_fixed_salts(monkeypatch)
    for changed in (
        {"note": "call me on +86 10 1234 5679", "reason": None},
        {"note": "call me on +86 10 1234 5678"},
        {"note": "call me on +86 10 1234 5678", "reason": None, "x": 1},
    ):
        edited = list(sealed)
        edited[1] = sealed[1].model_copy(update={"payload": changed})
        problems = [(f.sequence, f.problem) for f in chain.verify("t-9", edited, head, 5)]
        assert problems == [(2, "edited, or the event before it was changed or removed")]
    resalted = list(sealed)
    resalted[1] = sealed[1].model_copy(update={"salt": "ff" * 16})
    assert [f.sequence for f in chain.verify("t-9", resalted, head, 5)] == [2]
    other_key = Chain(b"another key")
    assert [f.sequence for f in other_key.verify("t-9", sealed, head, 5)] == [1, 2, 3, 4, 5]
