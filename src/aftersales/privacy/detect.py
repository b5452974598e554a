"""Finding personal data in free text: phones, e-mails, Chinese resident ID numbers, bank
card numbers and postal addresses.

:func:`find_personal_data` scans a message and returns one :class:`Finding` per piece of
personal data, ordered by position, never two overlapping. It aims at precision on
ordinary after-sales messages: order numbers, SKUs, prices, dates and tracking numbers
are not personal data and are not reported, so a number must look like its kind (a
valid check digit, a plausible birth date, a card issuer's prefix, a phone network's
prefix) and stand alone (not inside a longer run of letters and digits). A phone or card
number right after a word that labels it as something else (订单号, 运单, 发票, order,
purchase, tracking, invoice, SKU...) is not reported, and a card number of fewer than 16
digits written without groups is only reported after a word about cards or accounts
(卡, 账号, card, visa...): that short, it is more often a parcel number.

The text is scanned after NFKC normalisation character by character, so full-width
digits and letters (``１３８１２３４５６７８``) are found like their ASCII forms; the spans
reported are those of the original text.

Phones: Chinese mobiles and landlines are found by pattern; international numbers by
``phonenumbers`` (the ``privacy`` extra) when it is installed, with its
``PhoneNumberMatcher`` at leniency ``VALID``. Without it, international numbers are found
by a fallback pattern: a ``+`` or ``00`` prefix and then 8 to 15 digits, country code
included, in groups separated by single spaces, dashes, dots or parentheses (E.164 as
people write it), so a number written without its country prefix is then only found when
it is Chinese. In region CN (the default) ``phonenumbers`` too is only asked about numbers
written with an international prefix: there a bare run of digits is more often an order
number than a phone without its area code's 0.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from functools import lru_cache
from types import ModuleType
from typing import Final, Literal

import attrs

from aftersales.exceptions import FieldError, InvalidInput

__all__ = [
    "ADDRESS",
    "ALL_KINDS",
    "BANK_CARD",
    "CN_RESIDENT_ID",
    "EMAIL",
    "PHONE",
    "Finding",
    "PersonalDataKind",
    "find_personal_data",
]

PersonalDataKind = Literal["phone", "email", "cn_resident_id", "bank_card", "address"]
"""The kinds of personal data :func:`find_personal_data` finds."""

PHONE: Final = "phone"
EMAIL: Final = "email"
CN_RESIDENT_ID: Final = "cn_resident_id"
BANK_CARD: Final = "bank_card"
ADDRESS: Final = "address"

_BY_PRECEDENCE: Final[tuple[PersonalDataKind, ...]] = (
    EMAIL,
    CN_RESIDENT_ID,
    PHONE,
    BANK_CARD,
    ADDRESS,
)
"""Most specific first: where two candidates overlap the earlier kind wins (a resident ID
or a phone is never reported as a bank card, digits inside an e-mail are the e-mail)."""

ALL_KINDS: Final[frozenset[PersonalDataKind]] = frozenset(_BY_PRECEDENCE)
"""Every kind :func:`find_personal_data` knows: its default."""


@attrs.frozen
class Finding:
    """One piece of personal data in a text: its kind and where it is.

    ``text`` is ``original[start:end]``, as written (full-width digits stay full-width).
    """

    kind: PersonalDataKind
    start: int
    end: int
    text: str


def find_personal_data(
    text: str, *, kinds: Iterable[str] = ALL_KINDS, region: str = "CN"
) -> list[Finding]:
    """Every piece of personal data of ``kinds`` in ``text``, ordered by start; spans never
    overlap.

    ``kinds`` names the kinds to report (:data:`ALL_KINDS` by default; a single name may be
    given as a string); an unknown name raises :class:`~aftersales.exceptions.InvalidInput`.
    ``region`` is the ISO 3166 country whose numbering a phone number written without a
    country prefix follows (``phonenumbers``' default region); Chinese mobiles and
    landlines are found in any region.

    >>> message = "请寄到 zhang.san+vip@example.com，电话 138-1234-5678"
    >>> [(finding.kind, finding.text) for finding in find_personal_data(message)]
    [('email', 'zhang.san+vip@example.com'), ('phone', '138-1234-5678')]
    """
    wanted = _check_kinds(kinds)
    if not (len(region) == 2 and region.isascii() and region.isalpha() and region.isupper()):
        raise InvalidInput(
            "region",
            [
                FieldError(
                    ("region",), f"must be an ISO 3166 alpha-2 code such as 'CN', not {region!r}"
                )
            ],
        )
    if not text:
        return []
    normal, offsets = _normalise(text)
    # A kind is scanned when it is wanted or when it outranks a wanted one: a phone must
    # be known to refuse it as a card even when only cards are asked for.
    last = max(_BY_PRECEDENCE.index(kind) for kind in wanted)
    candidates: list[tuple[int, int, int, PersonalDataKind]] = []
    for rank, kind in enumerate(_BY_PRECEDENCE[: last + 1]):
        for start, end in _SCANNERS[kind](normal, region):
            candidates.append((rank, start - end, start, kind))
    candidates.sort()
    # Taken spans never overlap, so a candidate need only be checked against the taken
    # spans on either side of its start.
    starts: list[int] = []
    taken: list[tuple[int, int, PersonalDataKind]] = []
    for _rank, negative_length, start, kind in candidates:
        end = start - negative_length
        place = bisect.bisect_right(starts, start)
        if (place == 0 or taken[place - 1][1] <= start) and (
            place == len(starts) or starts[place] >= end
        ):
            starts.insert(place, start)
            taken.insert(place, (start, end, kind))
    findings = []
    for start, end, kind in taken:
        if kind in wanted:
            first, after = _original_span(offsets, start, end)
            findings.append(Finding(kind, first, after, text[first:after]))
    return findings


def _check_kinds(kinds: Iterable[str]) -> frozenset[PersonalDataKind]:
    names = [kinds] if isinstance(kinds, str) else list(kinds)
    unknown = sorted({str(name) for name in names} - ALL_KINDS)
    if unknown:
        known = ", ".join(sorted(ALL_KINDS))
        raise InvalidInput(
            "kinds",
            [
                FieldError(("kinds",), f"unknown kind {name!r}; known: {known}", "unknown_kind")
                for name in unknown
            ],
        )
    if not names:
        raise InvalidInput("kinds", [FieldError(("kinds",), "must name at least one kind")])
    return frozenset(kind for kind in _BY_PRECEDENCE if kind in names)


# --- normalisation -----------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _nfkc(char: str) -> str:
    return unicodedata.normalize("NFKC", char)


def _normalise(text: str) -> tuple[str, list[int] | None]:
    """``text`` NFKC-normalised one character at a time, and for each character of the
    result the index of the original character it came from (None: unchanged).

    One character at a time so that every normalised character maps back to exactly one
    original character (whole-text NFKC may merge a character with the next one)."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text, None
    parts: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(text):
        normal = char if char < "\x80" else _nfkc(char)
        parts.append(normal)
        offsets.extend([index] * len(normal))
    return "".join(parts), offsets


def _original_span(offsets: list[int] | None, start: int, end: int) -> tuple[int, int]:
    if offsets is None:
        return start, end
    return offsets[start], offsets[end - 1] + 1


# --- shared pieces -----------------------------------------------------------------------

_ALONE_BEFORE = r"(?<![0-9A-Za-z+])"
_ALONE_AFTER = r"(?![0-9A-Za-z])"

_NOT_PERSONAL_CONTEXT = re.compile(
    r"(?:订单|訂單|单号|單號|运单|運單|快递|快遞|物流|编号|編號|型号|型號|序列号|序列號|"
    r"发票|發票|交易|退款|order|purchase|tracking|parcel|package|shipment|invoice|"
    r"transaction|refund|item|product|sku|serial|model|ref|ticket|case)"
    r"[\s#:：.,，no号號]*$",
    re.IGNORECASE,
)
"""Words right before a number that say it is an order, parcel, product or document
number, not a person's phone or card."""


def _labelled_not_personal(text: str, start: int) -> bool:
    return _NOT_PERSONAL_CONTEXT.search(text, max(0, start - 16), start) is not None


# --- phones ------------------------------------------------------------------------------

_CN_PREFIX = r"(?:(?:\+|00)86[ -]?|\(\+?86\)[ -]?)"
_CN_MOBILE = re.compile(rf"{_ALONE_BEFORE}{_CN_PREFIX}?1[3-9]\d(?:[ -]?\d{{4}}){{2}}{_ALONE_AFTER}")
_AREA = r"(?:10|2\d|[3-9]\d{2})"
_CN_LANDLINE = re.compile(
    rf"{_ALONE_BEFORE}(?:{_CN_PREFIX}\(?{_AREA}\)?[ -]?|\(0{_AREA}\)[ -]?|0{_AREA}[ -]?)"
    rf"[2-9]\d{{2,3}}[ -]?\d{{4}}(?:(?:转|轉|-|ext\.? ?|x)\d{{1,6}})?{_ALONE_AFTER}"
)
_INTERNATIONAL_FALLBACK = re.compile(
    rf"{_ALONE_BEFORE}(?:\+|00)[1-9]\d{{0,2}}(?:[ .-]?\(?\d{{1,5}}\)?){{2,6}}{_ALONE_AFTER}"
)
_ENOUGH_DIGITS = re.compile(r"(?:\d[\s().\-/]{0,3}){6}\d")


@lru_cache(maxsize=1)
def _phonenumbers() -> ModuleType | None:
    """The ``phonenumbers`` module, or None when it is not installed (imported on first
    use so that the rest of the library neither needs nor waits for it)."""
    try:
        import phonenumbers
    except ImportError:
        return None
    return phonenumbers


def _phones(text: str, region: str) -> Iterator[tuple[int, int]]:
    for pattern in (_CN_MOBILE, _CN_LANDLINE):
        for match in pattern.finditer(text):
            if not _labelled_not_personal(text, match.start()):
                yield match.span()
    if _ENOUGH_DIGITS.search(text) is None:
        return
    library = _phonenumbers()
    if library is None:
        for match in _INTERNATIONAL_FALLBACK.finditer(text):
            written = match.group()
            digits = sum(char.isdigit() for char in written) - 2 * written.startswith("00")
            if 8 <= digits <= 15 and not _labelled_not_personal(text, match.start()):
                yield match.span()
        return
    for start, end in _library_matches(library, text, region):
        alone = (start == 0 or not _is_ascii_alnum(text[start - 1])) and (
            end == len(text) or not _is_ascii_alnum(text[end])
        )
        if alone and not _labelled_not_personal(text, start):
            yield start, end


_INTERNATIONAL_START = re.compile(r"(?<![0-9A-Za-z+])\(?(?:\+|00)\d")
_LONGEST_PHONE = 40
"""Characters enough for any phone number as written (15 digits, separators, prefix)."""


def _library_matches(library: ModuleType, text: str, region: str) -> Iterator[tuple[int, int]]:
    """The spans of the numbers ``phonenumbers`` finds in ``text``.

    In China a bare run of digits is more often an order number than a phone written
    without its area code's 0, and the domestic forms are the patterns' job: there only
    numbers written with an international prefix are taken, so the matcher (pure Python,
    slow) runs on a short window at each prefix instead of on the whole text."""
    leniency = library.Leniency.VALID
    if region != "CN":
        for number in library.PhoneNumberMatcher(text, region, leniency=leniency):
            yield number.start, number.end
        return
    for prefix in _INTERNATIONAL_START.finditer(text):
        offset = prefix.start()
        window = text[offset : offset + _LONGEST_PHONE]
        for number in library.PhoneNumberMatcher(window, region, leniency=leniency):
            if number.start < len(prefix.group()):
                yield offset + number.start, offset + number.end
            break


def _is_ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


# --- e-mails -----------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])"
    r"[A-Za-z0-9_%+\-](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
    r"(?![A-Za-z0-9\-])"
)


def _emails(text: str, region: str) -> Iterator[tuple[int, int]]:
    for match in _EMAIL.finditer(text):
        if ".." not in match.group():
            yield match.span()


# --- Chinese resident ID numbers ---------------------------------------------------------

_PROVINCE_CODES: Final = frozenset(
    str(code)
    for code in [
        *(11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43),
        *(44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83),
    ]
)
"""The first two digits of a resident ID: the province-level division (GB/T 2260)."""
_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
_ID_18 = re.compile(
    rf"{_ALONE_BEFORE}([1-9]\d{{5}}) ?((?:18|19|20)\d{{2}}{_DATE}) ?(\d{{3}}[0-9Xx]){_ALONE_AFTER}"
)
_ID_15 = re.compile(rf"{_ALONE_BEFORE}([1-9]\d{{5}})(\d{{2}}{_DATE})(\d{{3}}){_ALONE_AFTER}")
_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK: Final = "10X98765432"


def _resident_ids(text: str, region: str) -> Iterator[tuple[int, int]]:
    for match in _ID_18.finditer(text):
        area, born, rest = match.groups()
        digits = area + born + rest
        if _plausible_id(area, born) and _id_check_digit(digits[:17]) == digits[17].upper():
            yield match.span()
    for match in _ID_15.finditer(text):
        area, born, _sequence = match.groups()
        if _plausible_id(area, "19" + born):
            yield match.span()


def _id_check_digit(first17: str) -> str:
    """The 18th character of a resident ID with these first 17 digits (GB 11643-1999)."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _plausible_id(area: str, born: str) -> bool:
    return area[:2] in _PROVINCE_CODES and _birth_date(born) is not None


def _birth_date(born: str) -> date | None:
    """``born`` (YYYYMMDD) as a date if it is a real day from 1900 to today."""
    try:
        day = date(int(born[:4]), int(born[4:6]), int(born[6:8]))
    except ValueError:
        return None
    return day if date(1900, 1, 1) <= day <= date.today() else None


# --- bank cards --------------------------------------------------------------------------

# Runs of digits joined by single separators, split into cards afterwards: a pattern that
# itself chose where the groups end would backtrack through every partition of the digits.
_CARD = re.compile(rf"{_ALONE_BEFORE}\d+(?:[ -]\d+)*{_ALONE_AFTER}")
_CARD_CONTEXT = re.compile(
    r"(?:卡|card|visa|master|amex|unionpay|银联|銀聯|账号|帳號|账户|帳戶|银行|銀行)",
    re.IGNORECASE,
)
"""Words that say a short (13 to 15 digit) number nearby is a card: without one, a number
that short is more often a parcel or order number that happens to pass Luhn."""


def _cards(text: str, region: str) -> Iterator[tuple[int, int]]:
    for match in _CARD.finditer(text):
        if _is_card(text, match.start(), match.end()):
            yield match.span()
            continue
        # "2 6222020200000000006": a quantity before the card joined the run.
        for run in _DIGIT_RUN.finditer(text, match.start(), match.end()):
            if run.span() != match.span() and _is_card(text, *run.span()):
                yield run.span()


_DIGIT_RUN = re.compile(r"(?<!\d)\d{13,19}(?!\d)")


def _is_card(text: str, start: int, end: int) -> bool:
    written = text[start:end]
    digits = written.replace(" ", "").replace("-", "")
    grouped = digits != written
    if not (
        13 <= len(digits) <= 19
        and (not grouped or _card_groups(written))
        and _issuer_prefix(digits)
        and _luhn_valid(digits)
        and not (len(digits) == 18 and _birth_date(digits[6:14]) is not None)
        and not _labelled_not_personal(text, start)
    ):
        return False
    if len(digits) < 16 and not grouped:
        return _CARD_CONTEXT.search(text, max(0, start - 20), start) is not None
    return True


def _card_groups(written: str) -> bool:
    """Whether a card number written with separators is grouped as cards are printed:
    one kind of separator, groups of 4 to 6 digits, the last of 3 to 6."""
    separators = {char for char in written if not char.isdigit()}
    groups = re.split(r"[ -]", written)
    return (
        len(separators) == 1
        and all(4 <= len(group) <= 6 for group in groups[:-1])
        and 3 <= len(groups[-1]) <= 6
    )


def _issuer_prefix(digits: str) -> bool:
    """Whether the number starts as an issuer's cards do (ISO/IEC 7812 ranges of Visa,
    Mastercard, American Express, Diners, JCB, Discover and UnionPay, and the 95-prefixed
    domestic cards of Chinese banks)."""
    length = len(digits)
    first, two, four = digits[0], int(digits[:2]), int(digits[:4])
    if first == "4":
        return length in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return length == 16
    if two in (34, 37):
        return length == 15
    if two in (30, 36, 38, 39):
        return 14 <= length <= 19
    if two in (35, 60, 62, 64, 65, 81):
        return length >= 16
    return two == 95 and length >= 16


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# --- addresses ---------------------------------------------------------------------------

_STOP_CHARACTERS = (
    "在是的我你他她们們到寄送往址为為住给給请請把从從及与與或了吧呢吗嗎啊收件填写寫改成要想能换換退"
)
"""Characters that do not occur in place names but often right before an address ("寄到",
"地址是", "我住在"): a name stops at them, so the address does not swallow the sentence."""


def _name_class() -> str:
    stops = sorted(ord(char) for char in _STOP_CHARACTERS)
    ranges, low = [], 0x4E00
    for stop in stops:
        if stop > low:
            ranges.append(f"\\u{low:04x}-\\u{stop - 1:04x}")
        low = stop + 1
    ranges.append(f"\\u{low:04x}-\\u9fff")
    return "[" + "".join(ranges) + "]"


_N = _name_class()
_PROVINCES = (
    "北京|天津|上海|重庆|重慶|河北|山西|辽宁|遼寧|吉林|黑龙江|黑龍江|江苏|江蘇|浙江|安徽|福建|江西|"
    "山东|山東|河南|湖北|湖南|广东|廣東|海南|四川|贵州|貴州|云南|雲南|陕西|陝西|甘肃|甘肅|青海|"
    "台湾|台灣|臺灣|内蒙古|內蒙古|广西|廣西|西藏|宁夏|寧夏|新疆|香港|澳门|澳門"
)
_NUMERAL = r"(?:\d{1,5}|[一二三四五六七八九十百零〇两兩]{1,4})"
_PLACE_SUFFIX = (
    "市|自治州|地区|地區|盟|区|區|县|縣|旗|镇|鎮|乡|鄉|街道|大道|大街|路|街|巷|胡同|弄|道"
)
_CN_ADDRESS = re.compile(
    rf"(?=(?:{_PROVINCES})|{_N}{{1,8}}?(?:{_PLACE_SUFFIX}))"
    rf"(?P<province>(?:{_PROVINCES})(?:省|市|(?:壮族|壯族|回族|维吾尔|維吾爾)?自治[区區]|特别行政区|特別行政區)?)?"
    rf"(?P<city>{_N}{{1,7}}?(?:市|自治州|地区|地區|盟))?"
    rf"(?P<district>{_N}{{1,7}}?(?:区|區|县|縣|旗))?"
    rf"(?P<town>{_N}{{1,7}}?(?:镇|鎮|乡|鄉|街道))?"
    rf"(?P<road>{_N}{{1,8}}?(?:大道|大街|路|街|巷|胡同|弄|道)(?:{_NUMERAL}段)?)?"
    rf"(?P<number>{_NUMERAL}(?:号|號)院?)?"
    rf"(?P<units>(?:{_N}|[A-Za-z]){{0,12}}?"
    rf"(?:{_NUMERAL}(?:号楼|號樓|栋|棟|幢|座|单元|單元|层|層|楼|樓|室|号|號)){{1,5}})?"
)
_PROVINCE = re.compile(_PROVINCES)
_LEVELS: Final = ("province", "city", "district", "town", "road", "number", "units")
_ADDRESS_HINT = re.compile(r"[省市区區县縣镇鎮乡鄉路街巷弄道号號栋棟幢楼樓室]")

_EN_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|"
    r"Parkway|Pkwy|Way|Terrace|Highway|Hwy|Square|Sq|Crescent|Close|Circle|Row|Mews)"
)
_EN_WORD = r"(?:[A-Z][A-Za-z'\-]*|\d{1,3}(?:st|nd|rd|th))"
_EN_ADDRESS = re.compile(
    rf"{_ALONE_BEFORE}\d{{1,6}}[A-Za-z]?(?:-\d{{1,6}})?\s+(?:{_EN_WORD}\s+){{1,4}}{_EN_SUFFIX}\b\.?"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl)\.?\s*#?[0-9A-Za-z\-]{1,6}\b)?"
    r"(?:,\s*[A-Z][A-Za-z]+(?:\s+[A-Z][A-Za-z]+){0,3}(?=,|\s+[A-Z]{1,2}\d))?"
    r"(?:,\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?\b|,?\s+[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b)?"
)


def _addresses(text: str, region: str) -> Iterator[tuple[int, int]]:
    if _ADDRESS_HINT.search(text):
        position = 0
        while (match := _CN_ADDRESS.search(text, position)) is not None:
            if _qualifies(match):
                # A name swallows the words before it ("问一下上海市..."); a province
                # named inside the first component is where the address starts.
                first = next(match.end(name) for name in _LEVELS if match.group(name))
                province = _PROVINCE.search(text, match.start() + 1, first)
                yield (match.start() if province is None else province.start()), match.end()
                position = match.end()
            else:
                # A place named in passing may hide the start of an address after it.
                position = match.start() + 1
    if any(char.isdigit() for char in text):
        for match in _EN_ADDRESS.finditer(text):
            yield match.span()


def _qualifies(match: re.Match[str]) -> bool:
    """Whether the matched components make an address rather than a place named in
    passing: a road with its number, two levels of the address, or a level with the
    building and room."""
    found = {name for name, value in match.groupdict().items() if value}
    places = found & {"province", "city", "district", "town", "road"}
    return (
        {"road", "number"} <= found
        or len(places) >= 2
        or (bool(places) and bool(found & {"number", "units"}))
    )


_SCANNERS: Final[dict[PersonalDataKind, Callable[[str, str], Iterable[tuple[int, int]]]]] = {
    EMAIL: _emails,
    CN_RESIDENT_ID: _resident_ids,
    PHONE: _phones,
    BANK_CARD: _cards,
    ADDRESS: _addresses,
}
