"""Text normalisation for matching: width, case, traditional characters, tokens."""

from __future__ import annotations

import re
import unicodedata

# Traditional → simplified for the characters the built-in rules use and others common in
# after-sales messages (pairs of traditional, simplified). A full converter (e.g. OpenCC)
# can be plugged in by normalising text before it reaches the classifier.
_PAIR_TEXT = (
    "貨货 退退 換换 質质 損损 壞坏 維维 實实 際际 發发 票票 帳帐 單单 賬账 戶户 號号 碼码 "
    "登登 錄录 註注 冊册 設设 訂订 運运 遞递 達达 時时 間间 址址 寄寄 郵邮 費费 價价 錢钱 "
    "額额 補补 償偿 賠赔 訴诉 師师 機机 電电 視视 燒烧 爆爆 炸炸 漏漏 觸触 險险 問问 題题 "
    "詢询 購购 買买 產产 說说 書书 開开 關关 顯显 屏屏 響响 聲声 無无 沒没 還还 為为 麼么 "
    "這这 個个 們们 來来 會会 對对 於于 與与 後后 從从 現现 錯错 誤误 員员 態态 務务 熱热 "
    "線线 客客 專专 門门 處处 理理 場场 變变 幣币 匯汇 網网 頁页 應应 該该 廠厂 紀纪 記记 "
    "憶忆 體体 螢萤 幕幕 聯联 繫系 傳传 訊讯 隊队 標标 準准 級级 別别 經经 濟济 檢检 測测 "
    "調调 試试 證证 據据 資资 過过 煙烟 鍋锅 條条 寶宝 擊击 聽听 簡简 歡欢 讓让 請请 謝谢 "
    "給给 嗎吗 壓压 溫温 氣气 燈灯 動动 況况 麵面 飯饭 離离 盤盘 鎖锁 鑰钥 匙匙 護护 膚肤 "
    "鞋鞋 襪袜 褲裤 碼码 尺尺 寸寸 顏颜 色色 樣样 款款 舊旧 新新 收收 據据 稅税 優优 惠惠 "
    "券券 積积 分分 扣扣 態态 惡恶 劣劣 騙骗 舉举 報报 滿满 意意 評评 價价 曝曝 光光 權权"
)
_PAIRS = _PAIR_TEXT.split()
_TRADITIONAL = "".join(pair[0] for pair in _PAIRS)
_SIMPLIFIED = "".join(pair[1] for pair in _PAIRS)
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
