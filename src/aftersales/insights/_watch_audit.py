"""Checking the alert series' audit chains against their heads: what
:meth:`~aftersales.Desk.verify_audit` does for tickets and cases, for the subjects a risk
watch writes (see :mod:`aftersales.insights._watch_commit`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aftersales.compliance import AuditReport
from aftersales.desk import Desk
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.insights._watch_commit import (
    HEAD_PREFIX,
    RISK_KIND,
    SeriesHead,
    check_store,
    head_key,
)
from aftersales.privacy import AuditFinding
from aftersales.storage import MemoryStore, Store
from aftersales.storage._protocol import check_id
from aftersales.storage._record_store import RecordStore


def verify_alerts(desk: Desk, subject_ids: Iterable[str] | None = None) -> AuditReport:
    """Check the audit chain of each alert series (every series with alerts or a head
    when ``subject_ids`` is None; ids as :func:`~aftersales.insights.alert_subject_id`
    gives them) against its head, the last sequence and chain the watch wrote with its
    latest alert: every edited, deleted, reordered or moved alert is a finding naming
    the series and the event, the latest ones included. An id that is no alert series
    raises :class:`~aftersales.InvalidInput`."""
    if not isinstance(desk, Desk):
        raise InvalidInput("verify_alerts", [FieldError(("desk",), "must be a Desk")])
    store = desk.store
    check_store(store)
    if subject_ids is None:
        listed = _series_ids(store)
    elif isinstance(subject_ids, str | bytes) or not isinstance(subject_ids, Iterable):
        raise InvalidInput(
            "subject_ids", [FieldError(("subject_ids",), "must be ids of alert series")]
        )
    else:
        listed = [check_id(subject_id, "subject_ids") for subject_id in subject_ids]
    chain = desk.pipeline.chain
    findings: list[AuditFinding] = []
    events = unchained = 0
    for subject_id in listed:
        log = store.events(subject_id)
        text = store.get_state(head_key(subject_id))
        if text is None and not log:
            raise InvalidInput(
                "subject_ids", [FieldError(("subject_ids",), f"no alert series {subject_id!r}")]
            )
        events += len(log)
        unchained += sum(1 for event in log if event.chain is None)
        head = None if text is None else SeriesHead.from_json(text)
        if head is None:
            problem = "has no head" if text is None else "has a head the watch did not write"
            findings.append(
                AuditFinding(subject_id, None, f"{problem}: it was removed or replaced")
            )
            continue
        findings.extend(chain.verify(subject_id, log, head.chain, head.sequence))
    return AuditReport(len(listed), events, tuple(findings), unchained)


def _series_ids(store: Store) -> list[str]:
    """Every series with a head or alert events, sorted: a head whose events are gone
    and events whose head is gone are both found."""
    if isinstance(store, MemoryStore):
        with store._lock:
            heads = [key for key in store._state if key.startswith(HEAD_PREFIX)]
            logged = [
                subject_id
                for subject_id, log in store._events.items()
                if log and log[0].subject_kind == RISK_KIND
            ]
    else:
        assert isinstance(store, RecordStore)  # check_store refused any other

        def read(records: Any) -> tuple[list[str], list[str]]:
            # the state table holds few keys; a text range would depend on the
            # database's collation, so the prefix is matched here
            keys = records.select("state", {}, columns=("key",))
            rows = records.select("events", {"kind": RISK_KIND}, columns=("subject_id",))
            return (
                [str(row["key"]) for row in keys if str(row["key"]).startswith(HEAD_PREFIX)],
                [str(row["subject_id"]) for row in rows],
            )

        heads, logged = store.recorder.reading(read)
    return sorted({key[len(HEAD_PREFIX) :] for key in heads} | set(logged))
