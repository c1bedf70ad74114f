"""The words of the public joint-use notice, which the desk's answers repeat: the items of
clause 22 paragraph 3 as the terms name them (Japanese first, with English), and the
joint-use purposes. The allowlist (``schemas/allowlist.toml``) names each shared field's item;
this module turns field names — what the log records — into the notice's items.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway import allowlist

# English for the items of paragraph 3, beside the terms' own Japanese labels.
ITEM_ENGLISH = {
    "アカウント情報": "account information",
    "会社名": "company name",
    "部署名": "department",
    "役職名": "title",
    "氏名": "name",
    "住所": "address",
    "電子メールアドレス": "email address",
    "電話番号": "phone number",
    "ファックス番号": "fax number",
    "その他契約情報": "other contract information",
    "申込日": "application date",
    "契約日": "contract date",
    "利用サービス": "services used",
    "利用状況": "usage status",
    "料金の支払い方法": "payment method",
    "料金": "fees",
    "お問い合わせ内容": "inquiry contents",
    "調査・回答内容": "the company's investigation and answer",
}

PURPOSES = {
    "inquiry_response": (
        "お客様からの依頼または問い合わせに対して迅速かつ適切に対応するため",
        "to answer the customer's requests and inquiries quickly and properly",
    ),
    "service_contact": (
        "本サービスに関する必要な連絡を行うため",
        "to make necessary contact about the service",
    ),
}


def item_labels() -> dict[str, str]:
    """Each shared field's item in the terms (``email`` → 電子メールアドレス), from the allowlist:
    the log records field names, people read the terms' items."""
    current = allowlist.current()
    labels = {spec.name: spec.item for spec in current.definition.always if spec.item}
    labels.update({spec.name: spec.item for spec in current.fields if spec.item})
    return labels


def notice_items(fields: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The items of paragraph 3 as the notice lists them — ``{"ja", "en", "includes"}``, in
    the allowlist's order — for ``fields`` (field names, as the log records them), or for
    every shared field. An item includes its fields' own items (お問い合わせ内容 includes the
    company's 調査・回答内容), so an answer says everything that went with it."""
    current = allowlist.current()
    wanted = None if fields is None else set(fields)
    specs = [*current.definition.always, *current.fields]
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for spec in specs:
        if spec.item is None or (wanted is not None and spec.name not in wanted):
            continue
        children = getattr(spec, "children", ())
        includes = []
        for child in children:
            if child.item and child.item != spec.item and child.item not in seen:
                seen.add(child.item)
                includes.append({"ja": child.item, "en": ITEM_ENGLISH.get(child.item, child.name)})
        if spec.item in seen and not includes:
            continue
        if spec.item not in seen:
            seen.add(spec.item)
            items.append({"ja": spec.item, "en": ITEM_ENGLISH.get(spec.item, spec.name),
                          "includes": includes})  # fmt: skip
        else:
            next(i for i in items if i["ja"] == spec.item)["includes"].extend(includes)
    return items


def purpose_words(name: str | None) -> tuple[str, str]:
    """A purpose code in the notice's words (Japanese, English); an unknown code as it is."""
    return PURPOSES.get(name or "", (name or "—", name or "—"))


def items_text(items: list[dict[str, Any]]) -> str:
    """The items as one Japanese phrase: 氏名、お問い合わせ内容（調査・回答内容を含む）."""
    parts = []
    for item in items:
        included = "、".join(i["ja"] for i in item["includes"])
        parts.append(item["ja"] + (f"（{included}を含む）" if included else ""))
    return "、".join(parts)
