from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import aftersales
from aftersales import exceptions

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"


def test_all_is_sorted_the_way_ruff_sorts_it() -> None:
    def isort_key(name: str) -> tuple[int, str]:
        if name.isupper() or (name.upper() == name and "_" in name):
            return (0, name)
        return (1, name) if name[0].isupper() else (2, name)

    assert aftersales.__all__ == sorted(aftersales.__all__, key=isort_key)


def test_all_lists_every_public_name_and_only_names_that_exist() -> None:
    public = {
        name
        for name, value in vars(aftersales).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public | {"__version__"} == set(aftersales.__all__)
    for name in aftersales.__all__:
        assert hasattr(aftersales, name)


def test_every_library_error_descends_from_the_root() -> None:
    errors = [
        value
        for value in vars(exceptions).values()
        if inspect.isclass(value) and issubclass(value, Exception)
    ]
    assert len(errors) >= 13
    for error in errors:
        assert issubclass(error, aftersales.AftersalesError)


def test_the_module_docstring_draws_every_error_class() -> None:
    doc = exceptions.__doc__ or ""
    for name in exceptions.__all__:
        if name != "FieldError":
            assert name in doc, name


def test_invalid_input_is_also_a_value_error_and_not_found_a_lookup_error() -> None:
    assert issubclass(aftersales.InvalidInput, ValueError)
    assert issubclass(aftersales.NotFound, LookupError)
    assert not issubclass(aftersales.NotFound, KeyError)


def test_an_invalid_input_message_names_each_field_once() -> None:
    from datetime import datetime

    from aftersales import Desk, FieldError, InvalidInput

    with pytest.raises(InvalidInput) as raised:
        Desk().run_due(datetime(2024, 3, 4, 9, 0))  # naive
    assert str(raised.value) == "invalid now: must be a timezone-aware datetime"
    assert raised.value.errors[0].location == ("now",)  # the field is still named
    nested = InvalidInput("order", [FieldError(("order", "delivered_at"), "is before purchase")])
    assert str(nested) == "invalid order: delivered_at: is before purchase"
    other = InvalidInput("clock", [FieldError(("now",), "must be timezone-aware")])
    assert str(other) == "invalid clock: now: must be timezone-aware"


def test_a_ticket_asked_for_by_number_is_shown_as_hash_number() -> None:
    from aftersales import Desk, TicketNotFound

    with pytest.raises(TicketNotFound) as raised:
        Desk().get(12)
    assert str(raised.value) == "no ticket #12"
    assert str(TicketNotFound(12)) == "no ticket #12"
    assert TicketNotFound(12).ticket_id == "#12"
    assert str(TicketNotFound("0661a0")) == "no ticket '0661a0'"
    assert str(TicketNotFound("#12x")) == "no ticket '#12x'"


def test_a_lost_update_can_name_the_ticket_by_number() -> None:
    from aftersales import ConcurrencyError

    error = ConcurrencyError("0661a0", 1, 2, label="ticket #12")
    assert str(error) == "ticket #12: expected version 1, store has 2"
    assert error.subject_id == "0661a0"
    assert (
        str(ConcurrencyError("0661a0", 1, None)) == "0661a0: expected version 1, store has nothing"
    )


def test_a_lost_update_on_a_desk_names_the_ticket_by_number() -> None:
    from aftersales import ConcurrencyError, Desk

    desk = Desk()
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="Screen flickers")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    with pytest.raises(ConcurrencyError) as raised:
        desk.fire(ticket.id, "cancel", payload={"reason": "duplicate"}, expected_version=1)
    assert str(raised.value) == "ticket #1: expected version 1, store has 2"


def test_a_policy_refusal_in_chinese_names_the_order_line_in_chinese() -> None:
    from datetime import datetime, timezone

    from aftersales import Desk, FrozenClock, TransitionRefused

    now = datetime(2024, 6, 20, 9, 0, tzinfo=timezone.utc)
    desk = Desk(clock=FrozenClock(now))
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="退货")
    facts = {
        "jurisdiction": "cn",
        "product": {"category": "tableware"},
        "order": {
            "purchased_at": "2024-06-01T10:00:00+08:00",
            "delivered_at": "2024-06-03T10:00:00+08:00",
            "unit_price": {"amount": "45.00", "currency": "CNY"},
        },
        "claim": {"at": now.isoformat(), "kind": "no_reason_return"},
    }
    case = desk.cases.request_return(
        ticket.id, order_id="SO-1", lines=[{"line_id": "1", "facts": facts}], decide_now=False
    )
    with pytest.raises(TransitionRefused) as raised:
        desk.cases.fire(case.id, "approve")
    refusal = raised.value.refusal
    assert refusal.message == "line 1: the 7-day no-reason return window ended on 2024-06-10"
    assert refusal.message_zh == "订单行 1：七日无理由退货期限已于 2024-06-10 届满"


def _isort_key(name: str) -> tuple[int, str]:
    if name.isupper() or (name.upper() == name and "_" in name):
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


def _public_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(aftersales.__path__, "aftersales.")
        if not any(part.startswith("_") for part in info.name.split(".")[1:])
    )


@pytest.mark.parametrize("name", _public_modules())
def test_every_public_module_keeps_a_sorted_all_of_names_that_exist(name: str) -> None:
    module = importlib.import_module(name)
    names = getattr(module, "__all__", None)
    if names is None:
        return  # a module without __all__ exports nothing on purpose (e.g. the demo)
    assert list(names) == sorted(names, key=_isort_key)
    assert [n for n in names if not hasattr(module, n)] == []
    if hasattr(module, "__path__"):  # a package: what it imports from us, it exports
        ours = {
            n
            for n, value in vars(module).items()
            if not n.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            and value.__module__.startswith("aftersales")
        }
        assert sorted(ours - set(names)) == []


BOX_ROW = re.compile(r"^\| `(aftersales(?:\.\w+)*|examples/)` \| (.+) \|$", re.MULTILINE)
BOX_NAME = re.compile(r"(?<!extra )`([A-Za-z_]\w*)(?:\(\))?`")
BOX_COMMAND = re.compile(r"`python -m ([\w.]+)((?: \w+)*)`")


def test_what_is_in_the_box_names_what_the_package_holds() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(BOX_ROW.findall(readme))
    assert len(rows) >= 10, rows
    examples = rows.pop("examples/")
    assert set(re.findall(r"`(\w+)\.py`", examples)) == {p.stem for p in EXAMPLES.glob("*.py")}
    for target, text in rows.items():
        module_name, _, attribute = target.rpartition(".")
        if attribute[0].isupper():  # a class: its methods, or names of the top level
            holders = [getattr(importlib.import_module(module_name), attribute), aftersales]
        else:
            module = importlib.import_module(target)
            holders = [module, *(importlib.import_module(m) for m in _submodules(target))]
        for name in BOX_NAME.findall(text):
            assert any(hasattr(holder, name) for holder in holders), (target, name)
        for command, arguments in BOX_COMMAND.findall(text):
            done = subprocess.run(
                [sys.executable, "-m", command, *arguments.split()],
                capture_output=True,
                text=True,
            )
            assert (done.returncode, done.stderr) == (0, ""), command


def _submodules(package: str) -> list[str]:
    return [name for name in _public_modules() if name.startswith(package + ".")]
