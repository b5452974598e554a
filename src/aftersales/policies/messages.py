"""Message templates of decision reasons, keyed by reason code and language code.

Each rule module owns the templates of the reasons it gives, as a mapping
``{code: {language: template}}``; English (``en``) and Chinese (``zh``) ship with the
library. A template is a :meth:`str.format` string over the reason's ``params``
(``{window}`` is the window's name, in the language when the rule names it in that
language).

A further language is one file of templates, registered once at start-up:

>>> from aftersales.policies import messages
>>> messages.add_language("eo", {"within_window": "ene de {window}, ĝis {last_day}"})
>>> "eo" in messages.languages()
True
>>> messages.template("within_window", "eo")
'ene de {window}, ĝis {last_day}'
>>> messages.remove_language("eo")

:meth:`~aftersales.policies.Decision.explain` then speaks it; a reason whose code has no
template in that language raises InvalidInput rather than answering in another language.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

from aftersales.exceptions import FieldError, InvalidInput

__all__ = ["add_language", "add_messages", "languages", "remove_language", "template"]

_TEMPLATES: dict[str, dict[str, str]] = {}
"""Reason code -> {language: template}; filled by the rule modules at import."""

_LANGUAGES: dict[str, None] = {}
"""The languages with at least one template, in the order they were first added."""

_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{1,8})*\Z")
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_FORMATTER = string.Formatter()


def _fields(text: str) -> frozenset[str] | None:
    """The parameter names ``text`` formats, or None when it is not a valid template."""
    try:
        names = {name for _, name, _, _ in _FORMATTER.parse(text) if name is not None}
    except ValueError:
        return None
    if any(not name.isidentifier() for name in names):  # {0}, {a.b}, {a[0]}, {}
        return None
    return frozenset(names)


def _check(
    templates: Mapping[str, Mapping[str, str]], errors: list[FieldError]
) -> dict[str, dict[str, str]]:
    checked: dict[str, dict[str, str]] = {}
    for code, by_language in templates.items():
        if not isinstance(code, str) or not _CODE.match(code):
            errors.append(FieldError((str(code),), "is not a reason code (a-z, 0-9, _)"))
            continue
        if not isinstance(by_language, Mapping):
            errors.append(FieldError((code,), "must map language codes to templates"))
            continue
        english = by_language.get("en", _TEMPLATES.get(code, {}).get("en"))
        allowed = _fields(english) if isinstance(english, str) else None
        for language, text in by_language.items():
            where = (code, str(language))
            if not isinstance(language, str) or not _LANGUAGE.match(language):
                errors.append(FieldError(where, "is not a language code such as en, zh, ja"))
            elif not isinstance(text, str):
                errors.append(FieldError(where, "must be a template (text)"))
            elif (names := _fields(text)) is None:
                errors.append(FieldError(where, "is not a template: name each {parameter}"))
            elif allowed is not None and not names <= allowed:
                unknown = ", ".join(sorted(names - allowed))
                errors.append(
                    FieldError(where, f"names parameters the reason does not carry: {unknown}")
                )
            else:
                checked.setdefault(code, {})[language] = text
    return checked


def add_messages(templates: Mapping[str, Mapping[str, str]]) -> None:
    """Add (or replace) templates given as ``{code: {language: template}}``.

    This is how a rule module brings its messages, and how an application adds a
    language to one rule's messages. A template may only name parameters its English
    template names. Nothing is added when any template is invalid (InvalidInput).
    """
    errors: list[FieldError] = []
    if not isinstance(templates, Mapping):
        raise InvalidInput("messages", [FieldError((), "must map reason codes to templates")])
    checked = _check(templates, errors)
    if errors:
        raise InvalidInput("messages", errors)
    for code, by_language in checked.items():
        _TEMPLATES.setdefault(code, {}).update(by_language)
        for language in by_language:
            _LANGUAGES.setdefault(language)


def add_language(language: str, templates: Mapping[str, str]) -> None:
    """Add (or replace) one language's templates, given as ``{code: template}``: the
    one file a new language needs. Nothing is added when any template is invalid."""
    if not isinstance(templates, Mapping):
        raise InvalidInput("messages", [FieldError((), "must map reason codes to templates")])
    add_messages({code: {language: text} for code, text in templates.items()})


def remove_language(language: str) -> None:
    """Forget every template of ``language`` (English and Chinese cannot be removed)."""
    if language in ("en", "zh"):
        raise InvalidInput(
            "messages", [FieldError(("language",), f"{language!r} ships with the library")]
        )
    for by_language in _TEMPLATES.values():
        by_language.pop(language, None)
    _LANGUAGES.pop(language, None)


def languages() -> tuple[str, ...]:
    """The languages reasons can be explained in, in the order they were added."""
    return tuple(_LANGUAGES)


def template(code: str, language: str) -> str:
    """The template of reason ``code`` in ``language``; InvalidInput names what is known
    when either is missing (never a fallback to another language)."""
    by_language = _TEMPLATES.get(code)
    if by_language is not None:
        found = by_language.get(language)
        if found is not None:
            return found
    if language not in _LANGUAGES:
        problem = f"unknown language {language!r}; known: {', '.join(_LANGUAGES)}"
    elif by_language is None:
        problem = f"no messages for reason code {code!r}"
    else:
        problem = (
            f"no {language!r} message for reason code {code!r}; it has: {', '.join(by_language)}"
        )
    raise InvalidInput("explain", [FieldError(("language",), problem)])
