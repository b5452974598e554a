"""What the audit chain hashes is pinned: a fixed pair of events seals to known chain
values (computed before the sealing was made cheaper), so any change of the content, the
key's use or the time's text fails here before old stored chains stop verifying. The
shortcuts the sealing takes (HMAC with the key's pads hashed once, the time's text put
together by hand) give what the stdlib gives."""

from __future__ import annotations

import hmac
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import to_json

from aftersales._utc_text import utc_text
from aftersales.models.events import build_event
from aftersales.privacy import audit
from aftersales.privacy.audit import DEFAULT_AUDIT_KEY, Chain

FIRST_CHAIN = "4c074ba8247adbd569199823eed6ba129b75a896d86b81f6e77beeffd9e1d4c7"
SECOND_CHAIN = "88b377b3611a9cc3cdeb9bb385e999c8393fe3ef0e142b9120a72c6f31bddd9c"


def _events() -> list[audit.Event]:
    created = build_event(
        "t-1",
        "ticket",
        1,
        "created",
        None,
        "new",
        "agent-1",
        datetime(2024, 3, 4, 9, 0, 0, 5, tzinfo=timezone.utc),
        {},
        {
            "subject": "洗衣机漏水",
            "tags": ["a"],
            "status": "new",
            "contact": {"phone": "+86 10"},
            "description": "",
        },
    )
    started = build_event(
        "t-1",
        "ticket",
        2,
        "start",
        "new",
        "in_progress",
        "agent-1",
        datetime(2024, 3, 4, 17, 30, tzinfo=timezone(timedelta(hours=8))),
        {"note": None},
        {"status": "in_progress"},
    )
    return [created, started]


def test_a_fixed_pair_of_events_seals_to_known_chain_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit, "_urandom", lambda size: bytes(range(size)))
    sealed, head = Chain().seal(_events(), None)
    assert [(event.chain, event.salt) for event in sealed] == [
        (FIRST_CHAIN, "000102030405060708090a0b0c0d0e0f"),
        (SECOND_CHAIN, None),
    ]
    assert head == SECOND_CHAIN
    assert Chain().verify("t-1", sealed, head, 2) == []


def test_sealing_leaves_the_events_given_unchanged() -> None:
    events = _events()
    before = [dict(event.__dict__) for event in events]
    sealed, _ = Chain().seal(events, None)
    assert [event.__dict__ for event in events] == before
    assert all(event.chain is None for event in events)
    assert all(event.chain is not None for event in sealed)


@pytest.mark.parametrize("size", [0, 1, 25, 63, 64, 65, 200])
def test_the_chains_hmac_is_the_stdlibs(size: int) -> None:
    key = bytes(range(7, 7 + size))
    mac = audit._Hmac(key)
    for message in (b"", b"x", bytes(range(256)) * 5):
        assert mac.hex(message) == hmac.digest(key, message, "sha256").hex()


def test_the_chains_hmac_without_openssls_object_is_the_stdlibs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Python whose ``hmac.HMAC`` is not built on an OpenSSL object (no ``_hmac``): the
    chain copies the stdlib's object instead, with the same digests, and the pinned
    chains still come out."""
    real_new = hmac.new

    class Plain:
        def __init__(self, key: bytes, digestmod: str) -> None:
            self._inner = real_new(key, digestmod=digestmod)

        def copy(self) -> hmac.HMAC:
            return self._inner.copy()

    monkeypatch.setattr(audit.hmac, "new", Plain)
    monkeypatch.setattr(audit, "_urandom", lambda size: bytes(range(size)))
    key = bytes(range(40))
    assert not hasattr(audit._keyed_hmac(key), "_hmac")
    assert (
        audit._Hmac(key).hex(b"head|content") == hmac.digest(key, b"head|content", "sha256").hex()
    )
    _, head = Chain().seal(_events(), None)
    assert head == SECOND_CHAIN


def test_the_time_text_is_isoformat_in_utc() -> None:
    rng = random.Random(23)
    zones = [
        timezone.utc,
        timezone(timedelta(hours=-5)),
        ZoneInfo("UTC"),
        ZoneInfo("Asia/Shanghai"),
    ]
    instants = [
        datetime(1000, 1, 1, tzinfo=timezone.utc),
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
    ]
    for _ in range(500):
        instants.append(
            datetime(
                rng.randint(1900, 2200),
                rng.randint(1, 12),
                rng.randint(1, 28),
                rng.randint(0, 23),
                rng.randint(0, 59),
                rng.randint(0, 59),
                rng.choice([0, 1, 999999, rng.randint(0, 999999)]),
                tzinfo=rng.choice(zones),
            )
        )
    for at in instants:
        expected = at.astimezone(timezone.utc).isoformat(timespec="microseconds")
        assert utc_text(at) == expected


def test_the_default_key_is_unchanged() -> None:
    assert DEFAULT_AUDIT_KEY == b"aftersales-audit-chain-v1"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    texts=st.lists(st.text(min_size=1), min_size=6, max_size=6),
    sequence=st.integers(min_value=1, max_value=2**53),
    from_state=st.none() | st.text(min_size=1),
    payload=st.dictionaries(st.text(), json_values, max_size=3),
    changes=st.dictionaries(st.text(), json_values, max_size=3),
)
def test_an_events_content_is_written_as_to_json_writes_it(
    texts: list[str],
    sequence: int,
    from_state: str | None,
    payload: dict[str, object],
    changes: dict[str, object],
) -> None:
    """The chain hashes an event's content through a serializer told the fields' types;
    its bytes are those ``to_json`` makes of the same values (what chains sealed before it
    hashed), whatever the texts and JSON values."""
    subject_id, kind, trigger, to_state, actor, at = texts
    content = (subject_id, kind, sequence, trigger, from_state, to_state, actor, at)
    assert audit._content_json((*content, payload, changes)) == to_json(
        (*content, payload, changes)
    )
