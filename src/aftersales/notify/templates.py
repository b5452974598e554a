"""Message templates: Jinja2 in a sandbox, one variant per language, checked when loaded.

Needs the ``templates`` extra (``pip install aftersales[templates]``, for Jinja2).

A :class:`Templates` set holds named templates (``"resolved"``), each with a variant per
language: an optional subject, a text body and an optional HTML body. Every variant is
compiled when the set is built, and everything that would go wrong at send time because
of the template itself fails then instead, as :class:`~aftersales.TemplateError`: a syntax
error, a variable the context does not have, a field its record lacks
(``{{ customer.nmae }}``).

>>> from aftersales.notify.templates import Templates
>>> templates = Templates({
...     "resolved": {
...         "en": {"subject": "{{ about }} is resolved", "body": "Hello {{ customer.name }}."},
...         "zh": {"subject": "{{ about }} 已解决", "body": "{{ customer.name }}，您好。"},
...     }
... })
>>> from aftersales import Customer
>>> li = Customer(name="Li Wei", language="zh-CN")
>>> message = templates.render("resolved", language="zh-CN", about="Ticket #12", customer=li)
>>> (message.language, message.subject, message.body)
('zh', 'Ticket #12 已解决', 'Li Wei，您好。')
>>> from aftersales import TemplateError
>>> try:
...     Templates({"resolved": "Hello {{ customer.nmae }}"})
... except TemplateError as error:
...     print(error.template, "|", error.errors[0].message.split(" (")[0])
resolved/en | body, line 1: customer.nmae is not a field of Customer
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import attrs
import jinja2
from jinja2 import StrictUndefined
from jinja2.defaults import DEFAULT_NAMESPACE
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from aftersales._validation import invalid_input
from aftersales.exceptions import AftersalesError, FieldError, InvalidInput, TemplateError
from aftersales.models._base import Record
from aftersales.notify._template_checks import CONTEXT_TYPES, compile_template
from aftersales.notify._template_render import TemplateRender

__all__ = ["DEFAULT_CONTEXT", "MAX_OUTPUT", "RenderedMessage", "TemplateRender", "Templates"]

DEFAULT_CONTEXT: frozenset[str] = frozenset({*CONTEXT_TYPES, "about", "link"})
"""The names every template may use: ``ticket``, ``case``, ``customer``, ``decision``,
``event``, ``message`` (records, or None when the message is not about one), ``about``
(the subject as the customer knows it, ``"Ticket #12"``) and ``link`` (a URL, or None)."""

MAX_OUTPUT = 1_000_000
"""The default ``max_output`` of :class:`Templates`: the most characters a rendered
subject, body or html may have."""

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_LANGUAGE = r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
TemplateName = Annotated[str, Field(min_length=1, max_length=128, pattern=_NAME)]
Language = Annotated[str, Field(min_length=2, max_length=35, pattern=_LANGUAGE)]
_Source = Annotated[str, Field(max_length=100_000)]


class _Variant(Record):
    subject: _Source | None = None
    body: _Source
    html: _Source | None = None


_SPEC = TypeAdapter(dict[TemplateName, dict[Language, _Variant | _Source] | _Source])


@attrs.frozen
class RenderedMessage:
    """A template rendered for one message: ``subject`` (``""`` when the template has
    none; on one line, whitespace runs collapsed, so it is safe as a mail header),
    ``body`` (text), ``html`` (None when the template has none), the ``language`` of the
    variant used and the ``template``'s name. ``str()`` is the body."""

    template: str
    language: str
    subject: str
    body: str
    html: str | None = None

    def __str__(self) -> str:
        return self.body


@attrs.frozen
class _Compiled:
    language: str
    subject: jinja2.Template | None
    body: jinja2.Template
    html: jinja2.Template | None


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, remembering its verdict on each attribute of a record type:
    the sandbox's checks are by type and name alone, and cost more than the rest of the
    render did (a dozen isinstance checks per attribute read). ``*`` and ``**`` are
    checked before they run: ``'x' * 10**10`` or ``9 ** 10**9`` would exhaust memory
    before any limit on the output could see it."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, *, max_output: int, **options: Any) -> None:
        super().__init__(**options)
        self.max_output = max_output
        self._verdicts: dict[tuple[type, str], bool] = {}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if (
                _is_int(left)
                and _is_int(right)
                and right > 0
                and (abs(left).bit_length() - 1) * right > _MAX_BITS
            ):
                raise SecurityError(f"{left} ** {right} is too large a number")
        elif _is_int(left) and _is_int(right):
            if left.bit_length() + right.bit_length() > _MAX_BITS + 1:
                raise SecurityError("the product is too large a number")
        else:
            for sequence, times in ((left, right), (right, left)):
                if (
                    _is_int(times)
                    and isinstance(sequence, (str, bytes, list, tuple))
                    and len(sequence) * times > self.max_output
                ):
                    raise SecurityError(
                        f"repeating {len(sequence):,} items {times:,} times passes "
                        f"max_output ({self.max_output:,})"
                    )
        return super().call_binop(context, operator, left, right)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        kind = type(obj)
        key = (kind, attr)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = super().is_safe_attribute(obj, attr, value)
            # only records and enums: their verdicts cannot change (an ABC registered
            # later could make a collection "mutable"), and the names read of them are
            # the templates' own, so the cache stays small
            if issubclass(kind, (BaseModel, Enum)) and len(self._verdicts) < _MAX_VERDICTS:
                self._verdicts[key] = verdict
        return verdict


_MAX_VERDICTS = 4096
_MAX_BITS = 1 << 16
"""The largest whole number ``*`` or ``**`` may make, in bits (about 20,000 digits:
Python refuses to print more than 4,300 anyway)."""


def _is_int(value: object) -> bool:
    return isinstance(value, int)


def _environment(*, html: bool, max_output: int) -> _Sandbox:
    # trim_blocks/lstrip_blocks: a {% if %} on its own line leaves no blank line in a
    # plain-text mail; the trailing newline of a file is dropped (as an inline string has
    # none), so a body reads the same from JSON and from a directory.
    return _Sandbox(
        max_output=max_output,
        undefined=StrictUndefined,
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
        finalize=_printable,
    )


def _printable(value: Any) -> Any:
    """What ``{{ value }}`` prints: anything but None, which would show a customer the word
    "None" where a name that was not given, or a field not filled in, belongs."""
    if value is None:
        raise jinja2.UndefinedError(
            "a value it prints is None (guard it with {% if ... %}, or give a default: "
            "{{ ticket.assignee or 'our team' }})"
        )
    return value


class Templates:
    """Named message templates, one variant per language, compiled and checked once.

    ``templates`` maps a name to its variants by language, each a mapping with ``body``
    (text) and optionally ``subject`` and ``html``, or a plain string (a body alone); a
    plain string in place of the languages is the ``default_language``'s body. Every
    template needs a variant in ``default_language``: the last step of the fallback.

    A template may use the names of :data:`DEFAULT_CONTEXT` and those of ``context``
    (names an application adds, e.g. ``("survey_link",)``), and of the records among them
    only their fields, properties and methods. Bad input raises
    :class:`~aftersales.InvalidInput`, a template that cannot be used
    :class:`~aftersales.TemplateError` naming it (``"resolved/en"``).
    """

    __slots__ = (
        "_defaults",
        "_names",
        "_templates",
        "context",
        "default_language",
        "max_output",
    )

    def __init__(
        self,
        templates: Mapping[str, Any],
        *,
        default_language: str = "en",
        context: Iterable[str] = (),
        max_output: int = MAX_OUTPUT,
    ) -> None:
        if not isinstance(templates, Mapping):
            raise InvalidInput(
                "templates", [FieldError(("templates",), "must be a mapping of names")]
            )
        self.default_language = _language(default_language)
        self.context: frozenset[str] = DEFAULT_CONTEXT | _context_names(context)
        """Every name a template may use."""
        self._names = self.context
        if not _is_int(max_output) or isinstance(max_output, bool) or max_output < 1:
            raise InvalidInput(
                "templates",
                [FieldError(("max_output",), "must be a positive number of characters")],
            )
        self.max_output: int = max_output
        """The most characters a render's subject, body or html may have."""
        try:
            spec = _SPEC.validate_python(templates)
        except ValidationError as error:
            raise invalid_input("templates", error) from None
        text = _environment(html=False, max_output=max_output)
        html = _environment(html=True, max_output=max_output)
        # Jinja's globals (range, namespace...) go in with the names, each None until
        # given: a render then passes one prepared mapping as the whole context.
        self._defaults: dict[str, Any] = {**text.globals, **dict.fromkeys(sorted(self.context))}
        self._templates: dict[str, dict[str, _Compiled]] = {}
        for name, variants in spec.items():
            if isinstance(variants, str):
                variants = {self.default_language: variants}
            compiled: dict[str, _Compiled] = {}
            for language, variant in variants.items():
                if language.lower() in compiled:
                    raise TemplateError(f"{name}/{language}", "the language is given twice")
                if isinstance(variant, str):
                    variant = _Variant(body=variant)
                compiled[language.lower()] = self._compile(name, language, variant, text, html)
            if self.default_language.lower() not in compiled:
                raise TemplateError(
                    f"{name}/{self.default_language}",
                    f"no variant in the default language {self.default_language!r} (the "
                    "last fallback of every language)",
                )
            self._templates[name] = compiled

    def _compile(
        self,
        name: str,
        language: str,
        variant: _Variant,
        text: jinja2.Environment,
        html: jinja2.Environment,
    ) -> _Compiled:
        label = f"{name}/{language}"
        names = self._names
        return _Compiled(
            language=language,
            subject=None
            if variant.subject is None
            else compile_template(text, variant.subject, label, "subject", names),
            body=compile_template(text, variant.body, label, "body", names),
            html=None
            if variant.html is None
            else compile_template(html, variant.html, label, "html", names),
        )

    @classmethod
    def from_json(
        cls,
        source: str | Path,
        *,
        default_language: str = "en",
        context: Iterable[str] = (),
    ) -> Templates:
        """The templates of a JSON document (the mapping :class:`Templates` takes): its
        text, or the path of a file holding it."""
        if isinstance(source, str) and source.lstrip().startswith("{"):
            text = source
        else:
            text = _read(Path(source), "source")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInput(
                "templates", [FieldError(("source",), f"not JSON: {error}", "json_invalid")]
            ) from None
        return cls(data, default_language=default_language, context=context)

    @classmethod
    def from_directory(
        cls,
        path: str | Path,
        *,
        default_language: str = "en",
        context: Iterable[str] = (),
    ) -> Templates:
        """The templates of a directory: one folder per template, holding per language
        ``<language>.txt`` (the body), and optionally ``<language>.subject.txt`` and
        ``<language>.html``, in UTF-8: ``resolved/en.txt``, ``resolved/zh-CN.subject.txt``.
        Names starting with ``.`` are skipped; any other file is refused, so a misnamed
        one is not silently left out."""
        root = Path(path)
        if not root.is_dir():
            raise InvalidInput("templates", [FieldError(("path",), f"no directory {str(root)!r}")])
        data: dict[str, dict[str, dict[str, str]]] = {}
        for folder in sorted(root.iterdir()):
            if folder.name.startswith("."):
                continue
            if not folder.is_dir():
                raise _misplaced(folder, "a file beside the template folders")
            variants: dict[str, dict[str, str]] = {}
            for file in sorted(folder.iterdir()):
                if file.name.startswith("."):
                    continue
                language, _, suffix = file.name.partition(".")
                part = _PARTS.get(suffix) if file.is_file() else None
                if part is None:
                    raise _misplaced(file, "expected <language>.txt, .subject.txt or .html")
                variants.setdefault(language, {})[part] = _read(file, "path")
            data[folder.name] = variants
        return cls(data, default_language=default_language, context=context)

    @property
    def names(self) -> tuple[str, ...]:
        """The templates' names, sorted."""
        return tuple(sorted(self._templates))

    def languages(self, name: str) -> tuple[str, ...]:
        """The languages template ``name`` has a variant in, as given, sorted."""
        return tuple(sorted(v.language for v in self._variants(name).values()))

    def __contains__(self, name: object) -> bool:
        return name in self._templates

    def __len__(self) -> int:
        return len(self._templates)

    def __repr__(self) -> str:
        return f"Templates({', '.join(self.names)}; default_language={self.default_language!r})"

    def render(
        self, name: str, /, *, language: str | None = None, **context: Any
    ) -> RenderedMessage:
        """Render template ``name`` in ``language``: the variant of exactly that language
        (``zh-CN``, in any case), else of its primary language (``zh``), else of the
        ``default_language``. ``context`` gives the template's names; a name not given is
        None, which a template may test (``{% if link %}``) but not print. A name the set
        does not declare, or a render that fails (printing None, reading a field of a
        record that is None, an operation the sandbox refuses) raises
        :class:`~aftersales.TemplateError`."""
        variant = self._choose(name, language)
        values = self._defaults.copy()
        if context:
            if not context.keys() <= self._names:
                unknown = ", ".join(sorted(context.keys() - self._names))
                raise TemplateError(
                    f"{name}/{variant.language}",
                    f"unknown context {unknown} (declare it: Templates(..., context=...))",
                )
            values.update(context)
        part = "subject"
        limit = self.max_output
        try:
            subject = "" if variant.subject is None else _render(variant.subject, values, limit)
            part = "body"
            body = _render(variant.body, values, limit)
            part = "html"
            html = None if variant.html is None else _render(variant.html, values, limit)
        except (jinja2.TemplateError, AftersalesError) as error:
            raise TemplateError(
                f"{name}/{variant.language}", f"{part} failed to render: {error}"
            ) from None
        except Exception as error:  # noqa: BLE001 - whatever a template's values raise
            raise TemplateError(
                f"{name}/{variant.language}",
                f"{part} failed to render: {type(error).__name__}: {error}",
            ) from None
        if subject:
            subject = " ".join(subject.split())
        return RenderedMessage(name, variant.language, subject, body, html)

    def _variants(self, name: str) -> dict[str, _Compiled]:
        variants = self._templates.get(name) if isinstance(name, str) else None
        if variants is None:
            raise TemplateError(
                str(name), f"no such template (known: {', '.join(self.names) or 'none'})"
            )
        return variants

    def _choose(self, name: str, language: str | None) -> _Compiled:
        variants = self._variants(name)
        if language and isinstance(language, str):
            # RFC 4647 lookup: drop one trailing subtag at a time (zh-hant-tw, zh-hant,
            # zh); a POSIX-style zh_CN is the same tag
            wanted = language.replace("_", "-").lower()
            while wanted:
                found = variants.get(wanted)
                if found is not None:
                    return found
                wanted = wanted.rpartition("-")[0]
        return variants[self.default_language.lower()]


def _render(template: jinja2.Template, values: dict[str, Any], limit: int) -> str:
    """What ``template.render(values)`` returns, without copying ``values`` and the
    globals into a new dict on each call (``values`` holds the globals already; the
    template writes its own variables to the context, never to ``values``); stopped as
    soon as it passes ``limit`` characters, so a runaway loop cannot fill the memory."""
    chunks: list[str] = []
    size = 0
    for chunk in template.root_render_func(template.new_context(values, shared=True)):
        size += len(chunk)
        if size > limit:
            raise SecurityError(f"the output passes max_output ({limit:,} characters)")
        chunks.append(chunk)
    return "".join(chunks)


_PARTS = {"txt": "body", "subject.txt": "subject", "html": "html"}


def _language(value: object) -> str:
    if not isinstance(value, str) or re.fullmatch(_LANGUAGE, value) is None:
        raise InvalidInput(
            "templates",
            [FieldError(("default_language",), "must be a language tag such as 'en' or 'zh-CN'")],
        )
    return value


# render's own keyword, and Jinja's globals (a name that hid "range" would break loops)
_RESERVED = frozenset({"language", *DEFAULT_NAMESPACE})


def _context_names(names: Iterable[str]) -> frozenset[str]:
    if isinstance(names, str):
        names = (names,)
    try:
        found = frozenset(names)
    except TypeError:  # not iterable, or holding what cannot be a name (a list)
        raise InvalidInput(
            "templates", [FieldError(("context",), "must be an iterable of names")]
        ) from None
    bad = sorted(repr(name) for name in found if not _is_identifier(name) or name in _RESERVED)
    if bad:
        raise InvalidInput(
            "templates",
            [FieldError(("context",), f"not a name a template can use: {', '.join(bad)}")],
        )
    return found


def _is_identifier(name: object) -> bool:
    return isinstance(name, str) and _IDENTIFIER.fullmatch(name) is not None


def _read(path: Path, field: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(
            "templates", [FieldError((field,), f"cannot read {str(path)!r}: {error}")]
        ) from None


def _misplaced(path: Path, why: str) -> InvalidInput:
    return InvalidInput("templates", [FieldError(("path",), f"{str(path)!r}: {why}")])
