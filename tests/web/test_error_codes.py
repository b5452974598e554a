"""Every error class carries its own stable, machine-readable ``code``."""

from __future__ import annotations

import inspect
import re

from aftersales import exceptions


def _error_classes() -> list[type[exceptions.AftersalesError]]:
    found: list[type[exceptions.AftersalesError]] = []
    pending: list[type[exceptions.AftersalesError]] = [exceptions.AftersalesError]
    while pending:
        error = pending.pop()
        found.append(error)
        pending.extend(error.__subclasses__())
    # private classes (a store's internal signal) never reach a caller, and classes a
    # test defines for itself are not the library's
    return [
        error
        for error in found
        if not error.__name__.startswith("_") and error.__module__.startswith("aftersales")
    ]


def test_every_error_class_has_a_code_of_its_own() -> None:
    errors = _error_classes()
    codes = {error: error.__dict__.get("code") for error in errors}
    assert all(isinstance(code, str) for code in codes.values()), codes
    assert len(set(codes.values())) == len(errors), codes


def test_every_public_error_class_is_among_them_with_a_snake_case_code() -> None:
    public = {
        value
        for value in vars(exceptions).values()
        if inspect.isclass(value) and issubclass(value, exceptions.AftersalesError)
    }
    assert public <= set(_error_classes())
    for error in public:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", error.code), error


def test_the_codes_clients_branch_on_are_stable() -> None:
    assert {
        exceptions.InvalidInput.code,
        exceptions.TicketNotFound.code,
        exceptions.TriggerNotAllowed.code,
        exceptions.TransitionRefused.code,
        exceptions.ConcurrencyError.code,
        exceptions.PermissionDenied.code,
    } == {
        "invalid_input",
        "ticket_not_found",
        "trigger_not_allowed",
        "transition_refused",
        "concurrency_conflict",
        "permission_denied",
    }
    assert exceptions.TicketNotFound("t-1").code == "ticket_not_found"  # on instances too
