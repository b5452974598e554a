"""find_personal_data: each kind in the forms people write it, and the numbers of ordinary
after-sales messages (orders, parcels, SKUs, prices, dates) left alone."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator

import pytest

from aftersales.exceptions import InvalidInput
from aftersales.privacy import ALL_KINDS, Finding, find_personal_data
from aftersales.privacy import detect as detect_module


def found(message: str, **options: object) -> list[tuple[str, str]]:
    return [(f.kind, f.text) for f in find_personal_data(message, **options)]  # type: ignore[arg-type]


@pytest.fixture
def without_phonenumbers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if the ``privacy`` extra were not installed."""
    monkeypatch.setitem(sys.modules, "phonenumbers", None)
    detect_module._phonenumbers.cache_clear()
    yield
    monkeypatch.undo()
    detect_module._phonenumbers.cache_clear()


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("手机13812345678，谢谢", ("phone", "13812345678")),
        ("电话 138 1234 5678 找王先生", ("phone", "138 1234 5678")),
        ("call me on 159-8765-4321 please", ("phone", "159-8765-4321")),
        ("联系 +86 138 1234 5678", ("phone", "+86 138 1234 5678")),
        ("联系0086-19912345678", ("phone", "0086-19912345678")),
        ("联系(+86)13912345678", ("phone", "(+86)13912345678")),
        ("聯絡電話：１３８１２３４５６７８", ("phone", "１３８１２３４５６７８")),
        ("座机 010-62345678", ("phone", "010-62345678")),
        ("座机(0755)26543210转123", ("phone", "(0755)26543210转123")),
        ("打 0755 2654 3210 找我", ("phone", "0755 2654 3210")),
        ("Call +44 20 7946 0958 after six", ("phone", "+44 20 7946 0958")),
        ("my number is +1 650-253-0000", ("phone", "+1 650-253-0000")),
        ("香港電話 +852 2345 6789", ("phone", "+852 2345 6789")),
    ],
)
def test_phones_are_found_as_written(message: str, expected: tuple[str, str]) -> None:
    assert found(message) == [expected]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("邮箱 li.lei@example.com 谢谢", ("email", "li.lei@example.com")),
        ("mail zhang.san+vip@mail.example.com.cn.", ("email", "zhang.san+vip@mail.example.com.cn")),
        ("電郵：chan_tai-man@example.hk，謝謝", ("email", "chan_tai-man@example.hk")),
        ("ｌｉｌｅｉ＠ｅｘａｍｐｌｅ．ｃｏｍ", ("email", "ｌｉｌｅｉ＠ｅｘａｍｐｌｅ．ｃｏｍ")),
        ("13812345678@163.com 是我的邮箱", ("email", "13812345678@163.com")),
    ],
)
def test_emails_are_found_as_written(message: str, expected: tuple[str, str]) -> None:
    assert found(message) == [expected]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("身份证号11010519491231002X", ("cn_resident_id", "11010519491231002X")),
        ("身份證 11010519491231002x", ("cn_resident_id", "11010519491231002x")),
        ("ID 440308 19990101 1234 ok", ("cn_resident_id", "440308 19990101 1234")),
        ("证件 510107200002290010", ("cn_resident_id", "510107200002290010")),
        ("旧身份证 110105491231002", ("cn_resident_id", "110105491231002")),
        (
            "１１０１０５１９４９１２３１００２Ｘ",
            ("cn_resident_id", "１１０１０５１９４９１２３１００２Ｘ"),
        ),
    ],
)
def test_resident_ids_are_found_with_their_check_digit(
    message: str, expected: tuple[str, str]
) -> None:
    assert found(message) == [expected]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("退到卡 4111111111111111 吧", ("bank_card", "4111111111111111")),
        ("card 4111-1111-1111-1111", ("bank_card", "4111-1111-1111-1111")),
        ("银行卡 6222 0202 0000 0000 006", ("bank_card", "6222 0202 0000 0000 006")),
        ("Mastercard 5500 0000 0000 0004", ("bank_card", "5500 0000 0000 0004")),
        ("amex 3782 822463 10005", ("bank_card", "3782 822463 10005")),
        ("信用卡号 378282246310005", ("bank_card", "378282246310005")),
        ("Diners 3056 930902 5904", ("bank_card", "3056 930902 5904")),
        ("买了 2 6222020200000000006 两张", ("bank_card", "6222020200000000006")),
        (
            "銀行帳號６２２８４８００１２３４５６７１",
            ("bank_card", "６２２８４８００１２３４５６７１"),
        ),
    ],
)
def test_bank_cards_are_found_when_luhn_valid(message: str, expected: tuple[str, str]) -> None:
    assert found(message) == [expected]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "北京市朝阳区建国路88号SOHO现代城2号楼1501室",
            "北京市朝阳区建国路88号SOHO现代城2号楼1501室",
        ),
        ("寄到上海市浦东新区张江路123号，谢谢", "上海市浦东新区张江路123号"),
        ("地址：广东省深圳市南山区深南大道10000号", "广东省深圳市南山区深南大道10000号"),
        ("改成浙江杭州西湖区文三路90号", "浙江杭州西湖区文三路90号"),
        ("我住阳光小区3栋2单元501室", "阳光小区3栋2单元501室"),
        ("寄往臺北市大安區忠孝東路四段100號5樓", "臺北市大安區忠孝東路四段100號5樓"),
        ("地址改成幸福路88号", "幸福路88号"),
        ("我想问一下上海市浦东新区世纪大道100号", "上海市浦东新区世纪大道100号"),
        ("麻烦北京朝阳区建国路88号", "北京朝阳区建国路88号"),
        ("send it to 221B Baker Street, London NW1 6XE", "221B Baker Street, London NW1 6XE"),
        (
            "1600 Amphitheatre Parkway, Mountain View, CA 94043 is the office",
            "1600 Amphitheatre Parkway, Mountain View, CA 94043",
        ),
        ("ship to 350 5th Avenue, Apt 12B, New York, NY 10118.", None),
    ],
)
def test_addresses_are_found(message: str, expected: str | None) -> None:
    english = "350 5th Avenue, Apt 12B, New York, NY 10118"
    assert found(message) == [("address", expected or english)]


@pytest.mark.parametrize(
    "message",
    [
        "how can I cancel purchase 113542617735902?",
        "i need help to track purchase 3707955617",
        "订单A1234还没发货",
        "订单号13812345678什么时候到",
        "order no. 4111111111111111 is late",
        "运单号 12345678901234567890 一直没更新",
        "tracking 4312345678903 shows delivered",
        "4312345678903 到了吗",
        "SF1234567890123 顺丰单号",
        "价格¥1299.00，优惠后999元",
        "it cost $45.99 on 2023-12-05 at 14:30",
        "2024/03/04 下单，12月3号到货",
        "SKU ABC-12345 和 SKU-88213-XL 各一件",
        "身份证 110105194912310021 写错了",
        "卡号 4111111111111112",
        "生日 510107200102290018",
        "旧证 110105490230002",
        "mail a..b@example.com",
        "共 2 62220202000000000061 件",
        "超市的东西不错，城市很好，区别不大，一路顺风，知道了",
        "我在市区的门店买的，5号楼那边",
        "I bought 2 Nike Air Max shoes for my Street party",
        "invoice 0755123456789 attached",
    ],
)
def test_ordinary_after_sales_text_has_no_personal_data(message: str) -> None:
    assert found(message) == []


def test_findings_are_ordered_and_never_overlap() -> None:
    message = (
        "王先生 13812345678，邮箱 wang@example.com，卡 4111 1111 1111 1111，"
        "身份证 11010519491231002X，寄到上海市浦东新区张江路123号"
    )
    findings = find_personal_data(message)
    assert [f.kind for f in findings] == [
        "phone",
        "email",
        "bank_card",
        "cn_resident_id",
        "address",
    ]
    assert all(earlier.end <= later.start for earlier, later in itertools.pairwise(findings))
    assert all(message[f.start : f.end] == f.text for f in findings)


def test_spans_point_into_the_original_full_width_text() -> None:
    message = "电话：（＋８６）１３８－１２３４－５６７８。"
    [finding] = find_personal_data(message)
    assert finding == Finding("phone", 3, 21, "（＋８６）１３８－１２３４－５６７８")


def test_kinds_limits_what_is_reported() -> None:
    message = "13812345678 或 li@example.com"
    assert found(message, kinds=["email"]) == [("email", "li@example.com")]
    assert found(message, kinds="phone") == [("phone", "13812345678")]


def test_a_phone_or_resident_id_is_never_reported_as_a_card() -> None:
    # Each is Luhn-valid with a card issuer's prefix and length.
    assert found("+86 138 1234 5678", kinds=["bank_card"]) == []
    assert found("620102199001010257", kinds=["bank_card"]) == []
    assert found("620102199001010257") == [("cn_resident_id", "620102199001010257")]
    # Wrong check digit: not an ID, and shaped like one, so not a card either.
    assert found("620102199001010000") == []


def test_digits_inside_an_email_are_the_email() -> None:
    assert found("13812345678@163.com", kinds=["phone"]) == []


def test_unknown_kinds_are_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        find_personal_data("x", kinds=["phone", "ssn", "passport"])
    assert [error.location for error in caught.value.errors] == [("kinds",), ("kinds",)]
    assert "'passport'" in str(caught.value)
    assert "'ssn'" in str(caught.value)


def test_no_kinds_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least one kind"):
        find_personal_data("x", kinds=[])


@pytest.mark.parametrize("region", ["cn", "CHN", "", "1A"])
def test_a_region_must_be_an_alpha_2_code(region: str) -> None:
    with pytest.raises(InvalidInput, match="region"):
        find_personal_data("x", region=region)


def test_empty_text_has_nothing() -> None:
    assert find_personal_data("") == []
    assert {"phone", "email", "cn_resident_id", "bank_card", "address"} == ALL_KINDS


def test_a_country_prefix_belongs_to_the_number_right_after_it() -> None:
    assert found("+1 2 箱, 13812345678") == [("phone", "13812345678")]
    assert found("+7 is not a number") == []


def test_region_decides_national_numbers() -> None:
    message = "call (650) 253-0000 today"
    assert found(message, region="US") == [("phone", "(650) 253-0000")]
    assert found("order (650) 253-0000", region="US") == []
    assert found(message) == []


@pytest.mark.usefixtures("without_phonenumbers")
def test_without_phonenumbers_international_numbers_need_their_prefix() -> None:
    assert detect_module._phonenumbers() is None
    assert found("Call +44 20 7946 0958 or 0044 20 7946 0958") == [
        ("phone", "+44 20 7946 0958"),
        ("phone", "0044 20 7946 0958"),
    ]
    assert found("call (650) 253-0000 today", region="US") == []
    assert found("手机13812345678") == [("phone", "13812345678")]
    assert found("ref +1 650-253-0000 and +12 3") == []
