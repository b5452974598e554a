"""Ticket links and form tokens: signed with the shop's secret, expiring, never passing
for one another."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest

from aftersales import Desk, InvalidInput
from aftersales.web.pages import (
    LinkRefused,
    customer_pages,
    read_ticket_token,
    survey_link,
    ticket_link,
    ticket_token,
)
from aftersales.web.pages._signing import (
    check_form_token,
    form_token,
    form_token_nonce,
    page_keys,
)

SECRET = "a long random secret for links"
NOW = datetime(2024, 6, 5, 2, tzinfo=timezone.utc)
UNTIL = NOW + timedelta(days=7)


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def test_a_link_names_its_ticket_until_it_expires() -> None:
    token = ticket_token("t-42", secret=SECRET, expires_at=UNTIL)
    assert read_ticket_token(token, secret=SECRET, now=NOW) == "t-42"
    assert read_ticket_token(token, secret=SECRET.encode(), now=UNTIL - timedelta(seconds=1))
    with pytest.raises(LinkRefused) as expired:
        read_ticket_token(token, secret=SECRET, now=UNTIL)
    assert (expired.value.reason, str(expired.value)) == (
        "expired",
        "invalid ticket link: token: this link has expired",
    )


def test_the_link_is_the_mount_point_and_the_token() -> None:
    link = ticket_link("https://shop.example/help/", "t-42", secret=SECRET, expires_at=UNTIL)
    prefix, token = link.rsplit("/", 1)
    assert prefix == "https://shop.example/help/t"
    assert read_ticket_token(token, secret=SECRET, now=NOW) == "t-42"
    assert survey_link("https://shop.example/help", "abc.1.n.sig") == (
        "https://shop.example/help/s/abc.1.n.sig"
    )


def tampered() -> dict[str, str]:
    token = ticket_token("t-42", secret=SECRET, expires_at=UNTIL)
    encoded, expires, signature = token.split(".")
    other = ticket_token("t-43", secret="another shop's secret!!", expires_at=UNTIL)
    return {
        "another ticket's id": f"{b64('t-43')}.{expires}.{signature}",
        "a later expiry": f"{encoded}.{int(expires) + 86400}.{signature}",
        "another secret": other,
        "no signature": f"{encoded}.{expires}.",
        "two parts": f"{encoded}.{expires}",
        "a word for the expiry": f"{encoded}.soon.{signature}",
        "a bad base64 id": f"%%%.{expires}.{signature}",
        "an id that is not UTF-8": f"{b64('x')[:-1]}_w.{expires}.{signature}",
        "an empty id": f".{expires}.{signature}",
        "not ASCII": f"{encoded}.{expires}.{signature}é",
        "too long": "a" * 401,
        "empty": "",
    }


@pytest.mark.parametrize("case", sorted(tampered()))
def test_a_tampered_or_forged_token_is_invalid(case: str) -> None:
    with pytest.raises(LinkRefused) as refused:
        read_ticket_token(tampered()[case], secret=SECRET, now=NOW)
    assert refused.value.reason == "invalid"


def test_an_expired_forgery_is_invalid_rather_than_expired() -> None:
    forged = ticket_token("t-42", secret="not the shop's secret!!", expires_at=NOW)
    with pytest.raises(LinkRefused) as refused:
        read_ticket_token(forged, secret=SECRET, now=UNTIL)
    assert refused.value.reason == "invalid"


def test_a_token_that_is_not_text_is_invalid() -> None:
    with pytest.raises(LinkRefused):
        read_ticket_token(42, secret=SECRET, now=NOW)


@pytest.mark.parametrize("secret", ["short", b"", 1234567890123456789])
def test_a_short_secret_or_one_that_is_not_text_is_refused(secret: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        ticket_token("t-1", secret=secret, expires_at=UNTIL)  # type: ignore[arg-type]
    assert refused.value.errors[0].location == ("secret",)


def test_a_naive_expiry_or_a_missing_ticket_id_is_refused() -> None:
    with pytest.raises(InvalidInput) as naive:
        ticket_token("t-1", secret=SECRET, expires_at=datetime(2030, 1, 1))
    assert naive.value.errors[0].location == ("expires_at",)
    with pytest.raises(InvalidInput) as missing:
        ticket_token("", secret=SECRET, expires_at=UNTIL)
    assert missing.value.errors[0].location == ("ticket_id",)


def test_a_form_token_holds_for_its_purpose_until_it_expires() -> None:
    _, key = page_keys(SECRET)
    token = form_token(key, "reply\nlink-a", NOW, 60)
    assert check_form_token(key, "reply\nlink-a", token, NOW + timedelta(seconds=59))
    assert not check_form_token(key, "reply\nlink-a", token, NOW + timedelta(seconds=60))
    assert not check_form_token(key, "reply\nlink-b", token, NOW)
    assert not check_form_token(page_keys(SECRET + "!")[1], "reply\nlink-a", token, NOW)
    assert not check_form_token(key, "reply\nlink-a", "", NOW)
    assert not check_form_token(key, "reply\nlink-a", "soon." + token.split(".")[1], NOW)
    assert not check_form_token(key, "reply\nlink-a", token + "é", NOW)


def test_a_form_token_never_passes_for_a_link() -> None:
    links, forms = page_keys(SECRET)
    assert links != forms
    form = form_token(forms, "ticket\nt-42", NOW, 600)
    with pytest.raises(LinkRefused):
        read_ticket_token(form, secret=SECRET, now=NOW)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"language": "fr"}, "language"),
        ({"form_minutes": 0}, "form_minutes"),
        ({"form_minutes": True}, "form_minutes"),
        ({"max_reply": 0}, "max_reply"),
        ({"orders": "not callable"}, "orders"),
        ({"secret": "short"}, "secret"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../etc/passwd"}, "timezone"),
        ({"timezone": 8}, "timezone"),
    ],
)
def test_customer_pages_refuse_bad_settings(options: dict[str, object], field: str) -> None:
    settings: dict[str, object] = {"secret": SECRET, **options}
    with pytest.raises(InvalidInput) as refused:
        customer_pages(Desk(), **settings)  # type: ignore[arg-type]
    assert [error.location for error in refused.value.errors] == [(field,)]


def test_each_rendering_of_a_form_has_its_own_signed_nonce() -> None:
    key = page_keys(SECRET)[1]
    first, second = (form_token(key, "reply\nlink-a", NOW, 60) for _ in range(2))
    nonces = {form_token_nonce(key, "reply\nlink-a", token, NOW) for token in (first, second)}
    assert len(nonces) == 2
    assert None not in nonces
    expires, nonce, signature = first.split(".")
    swapped = f"{expires}.{second.split('.')[1]}.{signature}"
    assert form_token_nonce(key, "reply\nlink-a", swapped, NOW) is None
    for damaged in (f"²{expires}", f"x{expires}", f"{expires}0000000000000"):
        assert form_token_nonce(key, "reply\nlink-a", f"{damaged}.{nonce}.{signature}", NOW) is None
    assert form_token_nonce(key, "reply\nlink-a", f"{expires}..{signature}", NOW) is None
