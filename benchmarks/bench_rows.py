"""Reading rows back (issue 23): what turning a stored row's JSON into its record costs,
per row, once the SQL has answered. Measured in one run, in turns:

- ``validate``: ``Model.model_validate_json``, what the stores did;
- ``trusted``: the generated decoder of :mod:`aftersales.storage._trusted` (pydantic-core's
  ``from_json``, then the conversions validation would make), and the same decoder
  parsing with ``json.loads`` instead;
- ``trusted, fresh text`` (pages only): the decoder given new str objects, as a database
  hands rows over, whose UTF-8 form pydantic-core has to make before parsing (the other
  ways reuse the one each str caches after its first parse);
- ``cached``: a dict from the row's text to its record (what an LRU of immutable records
  could give at best, on a hit);
- floors: bare ``json.loads`` and ``pydantic_core.from_json`` of the same text.

For a realistic ticket (an order line, tags, Chinese text, five instants), a message with
an attachment, a transition's event, and a page of 100 different tickets (target: the
page well under 1 ms above the SQL, under about 5-8 µs a ticket), then the same page as a
bulk import into SQLiteStore writes it (no nulls: the decoder fills those defaults).
Each way's median and best batch of interleaved rounds (on a loaded machine the best batch
is the steadier figure of what the code costs), with ratios against the ``json.loads``
floor of the same rounds. The target is read with the collector running as an app runs
it; the pages are also measured right after a full collection, which leaves the CPU
caches cold and about doubles a page's time (printed beside, for comparison with the
figures of earlier sessions, which were all taken that way).

With ``--callgrind`` the instructions per page of 100 tickets are counted too (valgrind's
callgrind, deterministic; see benchmarks/_callgrind.py): the decoder given new bytes objects
(``CAST(data AS BLOB)``, as the stores read), the build alone (from rows already parsed),
and the two parsers alone.

Run: python benchmarks/bench_rows.py [--callgrind]
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pydantic_core

from _callgrind import instructions_per_unit, run_counted
from _timing import interleaved_samples, report
from aftersales.models import Event, Message, Ticket
from aftersales.models._base import Record
from aftersales.models.events import build_event
from aftersales.storage import _codec as codec
from aftersales.storage import _trusted

START = datetime(2024, 3, 4, 9, 30, 12, 345678, tzinfo=timezone.utc)
PAGE = 100
PER_BATCH = 50
REPEATS = 31
FLOOR = "floor json.loads"
TARGET_PER_TICKET_US = 8.0
STEADY = "as an app reads it"
COLD = "after a full collection"


def ticket(number: int) -> Ticket:
    at = START + timedelta(minutes=number)
    return Ticket(
        number=number,
        channel="wechat",
        subject=f"退货申请 #{number}: 吸尘器 VACUUM-V8 无法充电",
        description="收到的吸尘器无法充电，指示灯不亮。已尝试更换插座。" * 3,
        customer_id=f"customer-{number % 97:06d}",
        order_line={"order_id": f"order-{number:08d}", "line_id": "l1", "sku": "VACUUM-V8"},
        category="return_request",
        severity="high",
        priority="high" if number % 3 else "vip-rush",  # a desk's own level now and then
        status="waiting_on_customer",
        status_category="waiting_on_customer",
        assignee="agent-08",
        team="returns",
        tags=("vip", "退货", "battery"),
        created_at=at,
        updated_at=at + timedelta(hours=5, microseconds=17),
        first_response_at=at + timedelta(minutes=42),
        due_at=at + timedelta(days=3),
        sla_rule="standard",
        sla_due_at=at + timedelta(days=1),
        sla_first_response="met",
        first_response_business_seconds=2520,
        sla_resolution="pending",
        version=7,
        audit_chain="287fd84dd197fa107c7a8923cb980898fb8de1ec4e210dcc5ecf1acc1d3d00d7",
    )


def message() -> Message:
    return Message(
        ticket_id="0661b797991e2ba5ad9da6738802f45e",
        author_id="customer-000030",
        author_role="customer",
        body="您好，附件是充电器和指示灯的照片。请尽快处理，谢谢！",
        channel="wechat",
        at=START,
        attachments=[
            {
                "name": "充电器.jpg",
                "content_type": "image/jpeg",
                "size": 183_204,
                "sha256": "ab" * 32,
            }
        ],
        external_id="<wx-20240304-0001@example.com>",
    )


def event() -> Event:
    return build_event(
        "0661b797991e2ba5ad9da6738802f45e",
        "ticket",
        7,
        "wait_for_customer",
        "open",
        "waiting_on_customer",
        "agent-08",
        START,
        {"note": "请提供购买凭证"},
        {
            "status": "waiting_on_customer",
            "status_category": "waiting_on_customer",
            "updated_at": "2024-03-04T09:30:12.345678Z",
            "due_at": "2024-03-11T09:30:12.345678Z",
            "version": 7,
        },
    )


def _use(parse: Callable[[str | bytes], Any]) -> None:
    _trusted._loads = parse


def figures(
    name: str, model: type[Record], texts: list[str], per_row: int, *, collect_first: bool = True
) -> dict[str, float]:
    """Microseconds per row of each way to read ``texts`` (all rows of one batch), each
    batch after a full collection or, with ``collect_first=False``, with the collector
    running as in an app (see _timing.interleaved_samples)."""
    decode = _trusted.decoder(model)
    cache = {text: model.model_validate_json(text) for text in texts}
    validate = model.model_validate_json
    loads = json.loads
    from_json = pydantic_core.from_json

    def trusted_with(parse: Callable[[str | bytes], Any]) -> Callable[[], object]:
        def batch() -> object:
            _use(parse)
            return [decode(text) for _ in range(per_row) for text in texts]

        return batch

    batches: dict[str, Callable[[], object]] = {
        "validate": lambda: [validate(text) for _ in range(per_row) for text in texts],
        "trusted": trusted_with(from_json),
        "trusted, json.loads": trusted_with(loads),
    }
    if per_row == 1:
        # Rows as a database hands them over: new str objects each time, whose UTF-8 form
        # pydantic-core makes first (the others reuse the one cached in each str).
        copies = iter([[text.encode().decode() for text in texts] for _ in range(REPEATS + 1)])

        def fresh() -> object:
            _use(from_json)
            return [decode(text) for text in next(copies)]

        batches["trusted, fresh text"] = fresh
        # Rows as sqlite3 hands over CAST(data AS BLOB): new bytes objects, which
        # pydantic-core parses as they are (no str made by the driver, no UTF-8 made back).
        blobs = iter([[text.encode() for text in texts] for _ in range(REPEATS + 1)])

        def fresh_bytes() -> object:
            _use(from_json)
            return [decode(data) for data in next(blobs)]

        batches["trusted, fresh bytes"] = fresh_bytes
    batches |= {
        "cached (a hit)": lambda: [cache[text] for _ in range(per_row) for text in texts],
        FLOOR: lambda: [loads(text) for _ in range(per_row) for text in texts],
        "floor from_json": lambda: [from_json(text) for _ in range(per_row) for text in texts],
    }
    samples = interleaved_samples(
        batches, per_row * len(texts), repeats=REPEATS, collect_first=collect_first
    )
    _use(from_json)  # the decoder's own parser
    medians = {way: statistics.median(values) for way, values in samples.items()}
    best = {way: min(values) for way, values in samples.items()}
    print(f"\n{name} ({sum(map(len, texts)) // len(texts)} characters of JSON a row)")
    print(f"  {'':22} {'median':>8}  {'x json.loads':>12}   {'best':>8}  {'x json.loads':>12}")
    for way in batches:
        print(
            f"  {way:22} {medians[way] * 1e6:8.2f}  {medians[way] / medians[FLOOR]:12.2f}"
            f"   {best[way] * 1e6:8.2f}  {best[way] / best[FLOOR]:12.2f}   µs a row"
        )
    return {way: seconds * 1e6 for way, seconds in medians.items()} | {
        f"best {way}": seconds * 1e6 for way, seconds in best.items()
    }


def from_sqlite(texts: list[str]) -> dict[str, float]:
    """Microseconds per page of ``texts`` read from an SQLite table and decoded, as TEXT
    and as ``CAST(data AS BLOB)`` (what the stores read); and the SQL alone of each. Each
    way twice: as an app reads a page (the collector running as it does), and right
    after a full collection, whose walk over the heap leaves the CPU caches cold."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE tickets (number INTEGER PRIMARY KEY, data TEXT NOT NULL)")
    conn.executemany("INSERT INTO tickets VALUES (?, ?)", enumerate(texts))
    text_sql = "SELECT data FROM tickets ORDER BY number"
    blob_sql = "SELECT CAST(data AS BLOB) FROM tickets ORDER BY number"
    read = _trusted.read_ticket
    _use(pydantic_core.from_json)
    assert [read(r[0]) for r in conn.execute(blob_sql)] == [read(t) for t in texts]
    batches: dict[str, Callable[[], object]] = {
        "SQL + decode, TEXT": lambda: [read(r[0]) for r in conn.execute(text_sql).fetchall()],
        "SQL + decode, BLOB": lambda: [read(r[0]) for r in conn.execute(blob_sql).fetchall()],
        "SQL alone, TEXT": lambda: conn.execute(text_sql).fetchall(),
        "SQL alone, BLOB": lambda: conn.execute(blob_sql).fetchall(),
    }
    medians: dict[str, float] = {}
    for when, collect_first in ((STEADY, False), (COLD, True)):
        samples = interleaved_samples(batches, 1, repeats=REPEATS * 3, collect_first=collect_first)
        found = {way: statistics.median(values) * 1e6 for way, values in samples.items()}
        print(f"\na page of {len(texts)} tickets read from SQLite, {when} (µs a page, median)")
        for way, value in found.items():
            print(f"  {way:22} {value:8.1f}")
        for kind in ("TEXT", "BLOB"):
            above = found[f"SQL + decode, {kind}"] - found[f"SQL alone, {kind}"]
            found[f"above the SQL, {kind}"] = above
            print(f"  {'above the SQL, ' + kind:22} {above:8.1f}")
        medians |= {f"{way} ({when})": value for way, value in found.items()}
    return medians


def _page() -> list[str]:
    """The page of tickets exactly as the stores write them (codec.ticket_row: every field,
    None included)."""
    return [str(codec.ticket_row(ticket(number))[-1]) for number in range(1, PAGE + 1)]


def _counted_pages(pages: int) -> dict[str, Callable[[], object]]:
    """Per workload, a batch reading ``pages`` pages, every row a new object as a database
    hands it over (made before the batch runs)."""
    texts = _page()
    blobs = [[text.encode() for text in texts] for _ in range(pages)]
    read = _trusted.read_ticket
    build = _trusted.decoder(Ticket).build
    from_json = pydantic_core.from_json
    loads = json.loads
    # the build converts a parsed row in place: a parsed copy of each row for each page
    parsed = [[from_json(data) for data in page] for page in blobs]
    return {
        "decode": lambda: [read(data) for page in blobs for data in page],
        "build": lambda: [build(row) for page in parsed for row in page],
        "from_json": lambda: [from_json(data) for page in blobs for data in page],
        "json.loads": lambda: [loads(data) for page in blobs for data in page],
    }


COUNTED_PAGES = 20


def counted_batch(workload: str, pages: int) -> None:
    """Set ``workload`` up and warm it up, then read ``pages`` pages inside
    ``sys.call_tracing``, where callgrind collects (see benchmarks/_callgrind.py)."""
    for warm in _counted_pages(1).values():
        warm()
    batch = _counted_pages(pages)[workload]
    run_counted(batch, ())


def instructions() -> None:
    per_page = instructions_per_unit(
        __file__, ("decode", "build", "from_json", "json.loads"), COUNTED_PAGES
    )
    print(f"\ninstructions a page of {PAGE} tickets (callgrind)")
    for workload, count in per_page.items():
        print(f"  {workload:22} {count / 1e6:8.3f} M")
    above = per_page["decode"] - per_page["from_json"]
    print(f"  {'decode - from_json':22} {above / 1e6:8.3f} M")


def main() -> int:
    if sys.argv[1:2] == ["--instructions"]:
        counted_batch(sys.argv[2], int(sys.argv[3]))
        return 0
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    page = _page()
    for text in page:  # the decoder must give what validation gives
        assert _trusted.read_ticket(text) == Ticket.model_validate_json(text)
    figures("one ticket", Ticket, page[:1], PER_BATCH)
    figures("one message", Message, [str(codec.message_row(message())[-1])], PER_BATCH)
    figures("one event", Event, [str(codec.event_row(event())[-1])], PER_BATCH)
    cold = figures(f"a page of {PAGE} tickets, {COLD}", Ticket, page, 1)
    per_ticket = figures(
        f"a page of {PAGE} tickets, {STEADY}", Ticket, page, 1, collect_first=False
    )
    # as a bulk import into SQLiteStore writes them (codec.ticket_row(exclude_none=True)),
    # until each ticket's first change: the decoder fills the absent fields' defaults
    imported = [
        str(codec.ticket_row(ticket(number), exclude_none=True)[-1])
        for number in range(1, PAGE + 1)
    ]
    figures(
        f"a page of {PAGE} imported tickets (no nulls written), {STEADY}",
        Ticket,
        imported,
        1,
        collect_first=False,
    )
    read = from_sqlite(page)
    validate = per_ticket["validate"] * PAGE
    trusted = per_ticket["trusted"] * PAGE
    floor = per_ticket[FLOOR] * PAGE
    print()
    report(f"page of {PAGE}, validated", validate, floor, "µs", "-", True)
    ok = report(
        f"page of {PAGE}, trusted decoder",
        trusted,
        floor,
        "µs",
        f"< {TARGET_PER_TICKET_US * PAGE:.0f} µs",
        trusted < TARGET_PER_TICKET_US * PAGE,
    )
    above = read[f"above the SQL, BLOB ({STEADY})"]
    ok &= report(
        f"page of {PAGE} read from SQLite, above the SQL",
        above,
        floor,  # json.loads of the same page
        "µs",
        f"< {TARGET_PER_TICKET_US * PAGE:.0f} µs",
        above < TARGET_PER_TICKET_US * PAGE,
    )
    print(
        f"{COLD}: the trusted decoder {cold['trusted'] * PAGE:,.0f} µs a page (json.loads "
        f"{cold[FLOOR] * PAGE:,.0f} µs), above the SQL "
        f"{read[f'above the SQL, BLOB ({COLD})']:,.0f} µs"
    )
    best = per_ticket["best trusted"] / per_ticket["best validate"]
    print(f"trusted / validated: {trusted / validate:.2f} (medians), {best:.2f} (best batches)")
    if "--callgrind" in sys.argv[1:]:
        instructions()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
