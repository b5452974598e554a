"""Turning the bytes of a mail into text: charsets as Chinese mail really labels them,
encoded-word headers, and HTML bodies read as plain text."""

from __future__ import annotations

import codecs
import re
from email.header import decode_header
from html.parser import HTMLParser

# Mail labelled gb2312 often holds GBK characters (Outlook and many webmail clients label
# GBK text gb2312); GB18030 is the superset of both, so nothing labelled either is lost.
_GB = frozenset({"gb2312", "gbk", "cp936", "ms936", "x-gbk", "gb_2312-80", "euc-cn", "euccn"})
_BIG5 = frozenset({"big5", "big-5", "cn-big5", "x-x-big5", "csbig5", "cp950", "ms950"})
_HKSCS = frozenset({"big5hkscs", "big5-hkscs"})

_LANGUAGE = {"gb18030": "zh-CN", "big5": "zh-TW", "big5hkscs": "zh-HK"}


def codec_for(charset: str | None) -> str | None:
    """The Python codec to decode text labelled ``charset`` with, or None when the label
    is missing or names no codec Python has."""
    if charset is None:
        return None
    label = charset.strip().strip('"').lower()
    if label in _GB or label == "gb18030":
        return "gb18030"
    if label in _BIG5:
        return "big5"
    if label in _HKSCS:
        return "big5hkscs"
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):
        return None


def language_of(charset: str | None) -> str | None:
    """The language a Chinese charset implies (``zh-CN`` for the GB family, ``zh-TW`` for
    Big5, ``zh-HK`` for Big5-HKSCS), None for any other."""
    return _LANGUAGE.get(codec_for(charset) or "")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """``data`` as text, never raising: by its charset label (bad bytes replaced), Big5
    falling back to its Hong Kong superset, and unlabelled or unknown text read as UTF-8
    when it is valid UTF-8, else as Latin-1."""
    codec = codec_for(charset)
    if codec == "big5":
        for strict in ("big5", "cp950"):
            try:
                return data.decode(strict)
            except UnicodeDecodeError:
                continue
        return data.decode("big5hkscs", errors="replace")
    if codec is not None:
        try:
            return data.decode(codec, errors="replace")
        except LookupError:  # a codec Python knows that is not a text codec (e.g. hex)
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def clean(text: str) -> str:
    """``text`` with Windows and old Mac line ends made ``\\n`` and NUL characters (which no
    store keeps) removed."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def decode_header_value(raw: str) -> str:
    """A raw header value with its RFC 2047 encoded words decoded (by :func:`decode_bytes`,
    so a gb2312 word holding GBK characters reads right) and folding undone. Raw 8-bit
    bytes in a header (RFC 6532, or a client that never encoded) are read as UTF-8, else
    GB18030, else Latin-1."""
    try:
        parts = decode_header(raw)
    except Exception:  # noqa: BLE001 - email.header raises assorted errors on junk
        parts = [(raw, None)]
    pieces: list[str] = []
    for value, charset in parts:
        if isinstance(value, str):
            pieces.append(raw_text(value))
        else:
            pieces.append(decode_bytes(value, charset) if charset else _raw_bytes(value))
    text = "".join(pieces)
    return " ".join(clean(text).split())


def raw_text(value: str) -> str:
    """A raw header value with the 8-bit bytes the parser kept as surrogate escapes read
    as UTF-8, else GB18030, else Latin-1."""
    if value.isascii():
        return value
    try:
        data = value.encode("ascii", errors="surrogateescape")
    except UnicodeEncodeError:  # already text (e.g. given a str message)
        return value.encode("utf-8", errors="replace").decode("utf-8")
    return _raw_bytes(data)


def _raw_bytes(data: bytes) -> str:
    for codec in ("utf-8", "gb18030"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


_BLOCK = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    }
)
_HIDDEN = frozenset({"head", "script", "style", "template", "title"})
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_RUNS = re.compile(r"\n{3,}")


class _TextOfHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCK:
            self.out.append("\n")
            if tag == "li":
                self.out.append("- ")
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.out.append(_SPACES.sub(" ", data.replace("\n", " ").replace("\r", " ")))


def html_to_text(html: str) -> str:
    """The readable text of an HTML body: scripts, styles and the head dropped, blocks and
    ``<br>`` on their own lines, list items as ``- item``, entities decoded.

    >>> html_to_text("<p>Kettle&nbsp;leaks</p><ul><li>since Monday<li>twice</ul><script>x</script>")
    'Kettle leaks\\n\\n- since Monday\\n- twice'
    """
    parser = _TextOfHTML()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
