"""Trusted decoders of models that hold models (issue 23): a field holding a model
converts by that model's decoder, which the decoders' module registers with the field
conversions' (the two call each other, without an import cycle), down to a model that
holds itself."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic_core import from_json

from aftersales.models import Ticket
from aftersales.models.order import OrderLineRef
from aftersales.storage import _trusted, _trusted_fields
from aftersales.storage._trusted import decoder

zones = st.sampled_from([timezone.utc, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))])
instants = st.datetimes(
    min_value=datetime(1901, 1, 1), max_value=datetime(2199, 1, 1), timezones=zones
)
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


class _Node(BaseModel):
    # A model holding itself, directly and in a collection: its decoder and the
    # conversions of its fields call each other while it is being generated.
    at: datetime
    note: str = ""
    children: tuple[_Node, ...] = ()
    parent: _Node | None = None


_Node.model_rebuild()


@st.composite
def nodes(draw: st.DrawFn, depth: int = 2) -> _Node:
    children = tuple(draw(st.lists(nodes(depth - 1), max_size=2))) if depth else ()
    parent = draw(st.none() | nodes(depth - 1)) if depth else None
    return _Node(at=draw(instants), note=draw(texts), children=children, parent=parent)


def same_record(decoded: BaseModel, validated: BaseModel) -> None:
    assert decoded == validated
    assert type(decoded) is type(validated)
    assert repr(decoded) == repr(validated)
    assert decoded.model_fields_set == validated.model_fields_set
    assert decoded.model_dump_json() == validated.model_dump_json()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node=nodes())
def test_a_model_holding_itself_reads_back_as_validation_reads_it(node: _Node) -> None:
    assert decoder(_Node).supported, decoder(_Node).reason
    text = node.model_dump_json()
    validated = _Node.model_validate_json(text)
    same_record(decoder(_Node)(text), validated)
    # by the generated code alone (raises where the decoder would validate instead)
    same_record(decoder(_Node).build(from_json(text)), validated)


def test_a_field_holding_a_model_converts_by_the_registered_decoders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The field conversions know models only through what the decoders' module registered:
    # without it, a field holding a model is not understood (and its model validates).
    field = Ticket.model_fields["order_line"]
    monkeypatch.setattr(_trusted_fields, "_models", [])
    with pytest.raises(_trusted.Unsupported, match="no decoders of models"):
        _trusted_fields.field_convert(Ticket, "order_line", field)
    monkeypatch.undo()
    convert, _, nullable = _trusted_fields.field_convert(Ticket, "order_line", field)
    assert nullable
    assert convert is not None
    row = OrderLineRef(order_id="order-1", line_id="l1").model_dump(mode="json")
    same_record(convert(dict(row)), OrderLineRef.model_validate(row))
