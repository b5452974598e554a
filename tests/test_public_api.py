from __future__ import annotations

import inspect

import aftersales
from aftersales import exceptions


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
