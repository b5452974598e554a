"""One person writing their e-mail address in different cases is one customer."""

from __future__ import annotations

from aftersales import Channel, ContactPoint, Customer, Desk


def test_an_email_address_is_kept_in_lower_case_and_found_in_any_case() -> None:
    desk = Desk()
    wang = desk.save_customer(
        Customer(
            name="Wang Fang", contacts=[{"channel": "email", "address": "Wang.Fang@Example.COM"}]
        )
    )
    assert wang.address_on(Channel.EMAIL) == "wang.fang@example.com"
    for spelling in ("wang.fang@example.com", "WANG.FANG@EXAMPLE.COM", "Wang.Fang@example.com"):
        found = desk.find_customer("email", spelling)
        assert found is not None
        assert found.id == wang.id


def test_other_channels_keep_the_address_as_written() -> None:
    openid = ContactPoint(channel=Channel.WECHAT, address="o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    assert openid.address == "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"


def test_an_address_saved_before_it_was_kept_in_lower_case_is_still_found() -> None:
    desk = Desk()
    legacy = Customer.model_construct(
        id="c-old",
        name="Li",
        contacts=(ContactPoint.model_construct(channel=Channel.EMAIL, address="Li.Lei@X.cn"),),
    )
    desk.store.save_customer(legacy)
    found = desk.find_customer("email", "Li.Lei@X.cn")
    assert found is not None
    assert found.id == "c-old"
