"""Text normalisation for matching: width, case, traditional characters, tokens."""

from __future__ import annotations

import re
import unicodedata

# Traditional → simplified for the characters the built-in rules use (and common ones in
# after-sales messages). A full converter (e.g. OpenCC) can be plugged in as a normaliser.
_TRADITIONAL = (
    "貨退換質損壞維實際發票帳單賬戶號碼登錄註冊設定訂單運遞達時間地址寄郵費價錢額"
    "補償賠償訴律師法院機電視燒焦爆炸漏觸險問題詢購買產品說說明書開關顯黑屏響聲無"
    "沒還為甚麼這個們們來會對於與後從現錯誤員態務熱線客戶專門處理場變換貨幣匯率"
    "網頁應該廠牌紀錄記憶體螢幕聯繫傳訊隊應標準級別經濟檢測調試證據額外資訊過"
)
_SIMPLIFIED = (
    "货退换质损坏维实际发票帐单账户号码登录注册设定订单运递达时间地址寄邮费价钱额"
    "补偿赔偿诉律师法院机电视烧焦爆炸漏触险问题询购买产品说说明书开关显黑屏响声无"
    "没还为什么这个们们来会对于与后从现错误员态务热线客户专门处理场变换货币汇率"
    "网页应该厂牌纪录记忆体萤幕联系传讯队应标准级别经济检测调试证据额外资讯过"
)
assert len(_TRADITIONAL) == len(_SIMPLIFIED)
_TO_SIMPLIFIED = str.maketrans(_TRADITIONAL, _SIMPLIFIED)
_WORDS = re.compile(r"[a-z]+")
_CJK = re.compile(r"[\u3400-\u9fff]")


_HAS_TRADITIONAL = re.compile(
    "[" + re.escape("".join(sorted(set(_TRADITIONAL) - set(_SIMPLIFIED)))) + "]"
)


def normalise(text: str) -> str:
    """Full-width to half-width (NFKC), lower case, traditional to simplified."""
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    if _HAS_TRADITIONAL.search(text):  # translating is slow on CJK text: only when needed
        text = text.translate(_TO_SIMPLIFIED)
    return text


def words(text: str) -> list[str]:
    """The latin words of normalised text."""
    return _WORDS.findall(text)


def has_cjk(text: str) -> bool:
    """Whether the text contains Chinese characters."""
    return _CJK.search(text) is not None
