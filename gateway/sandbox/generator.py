"""Generated customers: plausible Japanese business contacts, in the source shape the company's
customer system exports (the allowlist's names), made from a seeded random generator.

Nothing here is a real person's data. Names and companies are combined from common parts;
addresses use real wards with made-up block numbers; e-mail domains end in ``.example``
(RFC 2606); phone numbers have a local part starting with 0, which no subscriber number in
Japan has. Amounts are strings of digits (yen, tax included).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from random import Random
from typing import Any

from gateway.sandbox import CUSTOMER_PREFIX

JST = timezone(timedelta(hours=9))

_SURNAMES = (
    ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
    ("伊藤", "ito"), ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"),
    ("小林", "kobayashi"), ("加藤", "kato"), ("吉田", "yoshida"), ("山田", "yamada"),
    ("佐々木", "sasaki"), ("山口", "yamaguchi"), ("松本", "matsumoto"), ("井上", "inoue"),
    ("木村", "kimura"), ("林", "hayashi"), ("斎藤", "saito"), ("清水", "shimizu"),
    ("森", "mori"), ("池田", "ikeda"), ("橋本", "hashimoto"), ("石川", "ishikawa"),
)  # fmt: skip
_GIVEN_NAMES = (
    ("翔太", "shota"), ("大輔", "daisuke"), ("健一", "kenichi"), ("拓也", "takuya"),
    ("直樹", "naoki"), ("誠", "makoto"), ("浩二", "koji"), ("隆", "takashi"),
    ("陽菜", "hina"), ("結衣", "yui"), ("美咲", "misaki"), ("由美", "yumi"),
    ("恵子", "keiko"), ("真由美", "mayumi"), ("彩", "aya"), ("智子", "tomoko"),
)  # fmt: skip
_COMPANY_WORDS = (
    ("桜", "sakura"), ("青葉", "aoba"), ("東都", "toto"), ("北斗", "hokuto"),
    ("大和", "yamato"), ("瑞穂", "mizuho"), ("旭", "asahi"), ("富士見", "fujimi"),
    ("若葉", "wakaba"), ("明星", "myojo"), ("白鷺", "shirasagi"), ("常盤", "tokiwa"),
    ("光陽", "koyo"), ("朝日野", "asahino"), ("千歳", "chitose"), ("三笠", "mikasa"),
)  # fmt: skip
_TRADES = (
    ("商事", "shoji"), ("物流", "logistics"), ("電機", "denki"), ("食品", "foods"),
    ("建設", "kensetsu"), ("印刷", "printing"), ("製作所", "works"), ("不動産", "estate"),
    ("システム", "systems"), ("薬品", "pharma"), ("工業", "kogyo"), ("サービス", "service"),
)  # fmt: skip
_FORMS = ("株式会社{}", "{}株式会社", "有限会社{}", "合同会社{}")
_FORM_WEIGHTS = (60, 30, 5, 5)
_DEPARTMENTS = ("総務部", "経理部", "営業部", "情報システム部", "人事部", "購買部", "管理部",
                "経営企画室", "カスタマーサポート部")  # fmt: skip
_TITLES = ("担当", "主任", "係長", "課長", "次長", "部長", "マネージャー", "室長")
# (prefecture and city, postal code head, area code, town names)
_PLACES = (
    ("東京都千代田区", "101", "03", ("神田須田町", "神田小川町", "内神田", "岩本町")),
    ("東京都中央区", "103", "03", ("日本橋本町", "日本橋室町", "日本橋人形町")),
    ("東京都港区", "105", "03", ("芝大門", "浜松町", "新橋", "虎ノ門")),
    ("東京都新宿区", "160", "03", ("西新宿", "新宿", "四谷")),
    ("神奈川県横浜市西区", "220", "045", ("みなとみらい", "高島", "北幸")),
    ("愛知県名古屋市中区", "460", "052", ("栄", "錦", "丸の内")),
    ("大阪府大阪市北区", "530", "06", ("梅田", "中之島", "堂島")),
    ("京都府京都市下京区", "600", "075", ("烏丸通", "四条通", "東洞院通")),
    ("福岡県福岡市博多区", "812", "092", ("博多駅前", "祇園町", "中洲")),
    ("北海道札幌市中央区", "060", "011", ("北一条西", "大通西", "南二条西")),
    ("宮城県仙台市青葉区", "980", "022", ("一番町", "中央", "本町")),
    ("広島県広島市中区", "730", "082", ("紙屋町", "八丁堀", "大手町")),
)  # fmt: skip
_BUILDINGS = ("ビル", "ビルディング", "センタービル", "第二ビル", "スクエア")
_SERVICES = ("smartphone-sync", "device-backup", "remote-lock", "usage-report")
# (plan, yen a month for one contract unit, tax included)
_PLANS = (("light", 3300), ("standard", 5500), ("business", 11000), ("enterprise", 33000))
_PAYMENT_METHODS = ("請求書払い", "口座振替", "クレジットカード")
_INQUIRIES = (
    ("端末の再起動後に同期が止まります。", "省電力モードが有効な端末で再現しました。",
     "アプリを省電力の対象から外してください。"),
    ("請求書の送付先を変更したい。", "契約情報と送付先を確認しました。",
     "送付先の変更を承りました。翌月分から反映されます。"),
    ("新しい端末を追加する方法を知りたい。", "管理画面の手順を確認しました。",
     "管理画面の「端末を追加」から登録できます。"),
    ("同期したデータの一部が表示されません。", "サーバーの記録で同期の失敗を確認しました。",
     "修正版を配信しました。アプリを更新してください。"),
    ("管理画面にログインできなくなりました。", "パスワードの試行回数超過でロックされていました。",
     "ロックを解除しました。パスワードの再設定をお願いします。"),
    ("契約プランを変更できますか。", "現在の契約内容を確認しました。",
     "翌月1日から変更できます。お申し込みをお待ちしております。"),
    ("解約の手続きを知りたい。", "契約期間と解約条件を確認しました。",
     "解約申込書をお送りしました。ご返送をお願いします。"),
)  # fmt: skip


def customer_id(number: int) -> str:
    return f"{CUSTOMER_PREFIX}{number:06d}"


def new_customer(number: int, day: date) -> dict[str, Any]:
    """Generated customer ``number`` as the company's system would export it on ``day``: the
    same record for the same number and day, whenever made."""
    rng = Random(f"sandbox-customer-{number}")  # noqa: S311 - made-up data, not a secret
    company, domain = _company(rng)
    status = rng.choices(("active", "trial", "suspended"), weights=(90, 5, 5))[0]
    if status == "trial":  # applied a few weeks ago; no contract yet
        applied, contracted = day - timedelta(days=rng.randint(3, 25)), None
    else:
        applied = day - timedelta(days=rng.randint(30, 1500))
        contracted = applied + timedelta(days=rng.randint(3, 20))
    address = _address(rng)
    phone, fax = _phone_and_fax(rng, address)
    plan, price = rng.choice(_PLANS)
    record: dict[str, Any] = {
        "customer_id": customer_id(number),
        "account_id": f"acct-{customer_id(number).lower()}",
        "company_name": company,
        "department": rng.choice(_DEPARTMENTS),
        "title": rng.choice(_TITLES),
        **_person(rng, domain),
        "address": address,
        "phone": phone,
        "fax": fax if rng.random() < 0.6 else None,
        "contract": {
            "application_date": applied.isoformat(),
            "contract_date": contracted.isoformat() if contracted else None,
            "services": ["smartphone-sync"] + rng.sample(_SERVICES[1:], rng.randint(0, 2)),
            "usage_status": status,
            "payment_method": rng.choice(_PAYMENT_METHODS),
        },
        "fees": {
            "plan": plan,
            "monthly_amount": str(price * rng.randint(1, 10)),
            "currency": "JPY",
        },  # fmt: skip
        "inquiries": [],
    }
    count = rng.choices((0, 1, 2), weights=(50, 35, 15))[0]
    for back in sorted((rng.randint(2, (day - applied).days) for _ in range(count)), reverse=True):
        at = time(rng.randint(9, 17), rng.choice((0, 15, 30, 45)))
        _add_inquiry(record, rng, datetime.combine(day - timedelta(days=back), at, JST))
    return record


# What changes in a customer's record between two exports, and how often.
CHANGES = ("inquiry", "title", "department", "phone", "contact", "address", "plan", "status")
_WEIGHTS = (30, 12, 10, 10, 10, 8, 12, 8)


def changed(record: dict[str, Any], rng: Random, now: datetime) -> tuple[dict[str, Any], str]:
    """A copy of ``record`` (in the stored shape, plus ``customer_id``) with one plausible
    change as of ``now``, and what changed. The content always differs from before."""
    new = {**record, "contract": dict(record.get("contract") or {}),
           "fees": dict(record.get("fees") or {}),
           "inquiries": list(record.get("inquiries") or [])}  # fmt: skip
    kind = rng.choices(CHANGES, weights=_WEIGHTS)[0]
    if kind == "title":
        new["title"] = rng.choice([t for t in _TITLES if t != record.get("title")])
    elif kind == "department":
        new["department"] = rng.choice([d for d in _DEPARTMENTS if d != record.get("department")])
    elif kind == "phone":
        new["phone"], _ = _phone_and_fax(rng, record.get("address") or "")
    elif kind == "contact":  # a new person in charge (担当者の変更)
        domain = (record.get("email") or "@example.example").partition("@")[2]
        new.update(_person(rng, domain))
    elif kind == "address":  # the office moved
        new["address"] = _address(rng)
        new["phone"], fax = _phone_and_fax(rng, new["address"])
        new["fax"] = fax if record.get("fax") else None
    elif kind == "plan":
        plan, price = rng.choice([p for p in _PLANS if p[0] != new["fees"].get("plan")])
        new["fees"].update(plan=plan, monthly_amount=str(price * rng.randint(1, 10)))
    elif kind == "status":
        was = new["contract"].get("usage_status")
        new["contract"]["usage_status"] = "suspended" if was != "suspended" else "active"
    if kind == "inquiry" or new == record:
        kind = "inquiry"  # received a day or three ago, answered since
        received = now.astimezone(JST) - timedelta(hours=rng.randint(26, 72))
        _add_inquiry(new, rng, received.replace(second=0, microsecond=0))
    return new, kind


def ended(record: dict[str, Any], rng: Random) -> dict[str, Any]:
    """A copy of ``record`` whose contract ended (cancelled by the customer, or terminated)."""
    contract = {**(record.get("contract") or {}),
                "usage_status": rng.choice(("cancelled", "terminated"))}  # fmt: skip
    return {**record, "contract": contract}


def _company(rng: Random) -> tuple[str, str]:
    word, word_latin = rng.choice(_COMPANY_WORDS)
    trade, trade_latin = rng.choice(_TRADES)
    form = rng.choices(_FORMS, weights=_FORM_WEIGHTS)[0]
    return form.format(word + trade), f"{word_latin}-{trade_latin}.example"


def _person(rng: Random, domain: str) -> dict[str, str]:
    surname, surname_latin = rng.choice(_SURNAMES)
    given, given_latin = rng.choice(_GIVEN_NAMES)
    return {"name": f"{surname} {given}", "email": f"{given_latin[0]}.{surname_latin}@{domain}"}


def _address(rng: Random) -> str:
    city, postal, _, towns = rng.choice(_PLACES)
    building = rng.choice(_BUILDINGS)
    return (
        f"〒{postal}-{rng.randint(0, 99):02d}{rng.randint(1, 99):02d} {city}{rng.choice(towns)}"
        f"{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 20)} "
        f"{rng.choice(_COMPANY_WORDS)[0]}{building}{rng.randint(2, 15)}F"
    )


def _phone_and_fax(rng: Random, address: str) -> tuple[str, str]:
    """A number in the address's area, and the next one for the fax. The local part starts
    with 0: no subscriber has such a number."""
    area = next((place[2] for place in _PLACES if place[0] in address), "03")
    digits = 10 - len(area)  # a Japanese landline number has ten digits
    local = rng.randint(10 ** (digits - 2), 10 ** (digits - 1) - 2)  # written with a 0 first

    def written(number: int) -> str:
        text = f"{number:0{digits}d}"
        return f"{area}-{text[:-4]}-{text[-4:]}"

    return written(local), written(local + 1)


def _add_inquiry(record: dict[str, Any], rng: Random, received: datetime) -> None:
    """Append an inquiry received at ``received`` and answered within hours."""
    content, investigation, answer = rng.choice(_INQUIRIES)
    earlier = list(record.get("inquiries") or [])
    answered = received + timedelta(hours=rng.randint(1, 4), minutes=rng.choice((0, 20, 40)))
    record["inquiries"] = [*earlier, {
        "inquiry_id": f"INQ-{record['customer_id']}-{len(earlier) + 1}",
        "received_at": received.isoformat(),
        "content": content,
        "investigation": investigation,
        "answer": answer,
        "answered_at": answered.isoformat(),
    }]  # fmt: skip
