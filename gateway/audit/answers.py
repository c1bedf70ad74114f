"""The privacy desk's answer to a customer's paragraph-6 request "who received my data?",
ready to send: the customer report in the notice's words and the company's calendar.

:func:`gateway.audit.reports.customer_report` gives the log's facts (ids, codes, UTC
instants); the answer adds what a customer reads: each reseller's company name (its id beside
it), since when the customer designated it (and until when, if withdrawn), the purposes and
items as the public notice words them (お問い合わせ内容 says that the company's investigation
and answer went with it), dates and times in the company's time zone, and whether a stop of
use is in force and since when. :func:`letter` is the reply itself, to print or copy.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from gateway.audit.reports import customer_report
from gateway.customers.models import Customer, ErasedCustomer
from gateway.designations.models import Designation
from gateway.notice import items_text, notice_items, purpose_words
from gateway.partners.models import Partner

_INSTANT = "%Y-%m-%dT%H:%M:%S.%fZ"


def local(instant: str | None, zone: ZoneInfo, *, with_time: bool = True) -> str | None:
    """A log instant (UTC) in the company's calendar, to the minute: 2026-04-01 18:00 JST."""
    if not instant:
        return None
    moment = datetime.strptime(instant, _INSTANT).replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    return moment.strftime("%Y-%m-%d %H:%M %Z" if with_time else "%Y-%m-%d")


def customer_answer(connection: Connection, customer_id: str, zone: ZoneInfo,
                    now: datetime) -> dict[str, Any]:  # fmt: skip
    """The report, and everything a reply to the customer says."""
    report = customer_report(connection, customer_id)
    ids = {r["partner"] for r in report["recipients"]} | {
        d["partner"] for d in report["refusals"] if d["partner"]
    }
    names = dict(
        connection.execute(select(Partner.id, Partner.name).where(Partner.id.in_(ids))).all()
    )
    designations = {
        row.partner_id: row
        for row in connection.execute(
            select(Designation.partner_id, Designation.designated_on, Designation.withdrawn_on)
            .where(Designation.customer_id == customer_id)
        )
    }  # fmt: skip
    customer = connection.execute(
        select(Customer.content, Customer.stop_use, Customer.stop_use_at,
               Customer.contract_ended).where(Customer.customer_id == customer_id)
    ).first()  # fmt: skip
    record = json.loads(customer.content) if customer else {}
    erased = connection.execute(
        select(ErasedCustomer.erased_at).where(ErasedCustomer.customer_id == customer_id)
    ).scalar()
    recipients = []
    for recipient in report["recipients"]:
        partner_id = recipient["partner"]
        designation = designations.get(partner_id)
        items = notice_items(recipient["items"])
        recipients.append({
            "partner_id": partner_id,
            "company_name": names.get(partner_id) or partner_id,
            "designated_on": designation.designated_on.isoformat() if designation else None,
            "withdrawn_on": (designation.withdrawn_on.isoformat()
                             if designation and designation.withdrawn_on else None),
            "count": recipient["count"],
            "first": local(recipient["first"], zone),
            "last": local(recipient["last"], zone),
            "purposes": [purpose_words(p) for p in recipient["purposes"]],
            "items": items,
            "items_text": items_text(items),
        })  # fmt: skip
    return {
        "customer_id": customer_id,
        "addressee": {"company_name": record.get("company_name"), "name": record.get("name")},
        "as_of": now.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
        "log_since": local(report["log_since"], zone),
        "time_zone": zone.key,
        "recipients": recipients,
        "stop_use": {
            "in_force": bool(customer and customer.stop_use),
            "since": local(customer.stop_use_at, zone) if customer and customer.stop_use else None,
        },
        "contract_ended": bool(customer and customer.contract_ended),
        "erased_at": local(erased, zone),
        "disclosures": [
            {
                **d,
                "at_local": local(d["at"], zone),
                "company_name": names.get(d["partner"]) or d["partner"],
                "purpose_words": purpose_words(d["purpose"]),
                "items_text": items_text(notice_items(d["items"])),
            }
            for d in report["disclosures"]
        ],  # fmt: skip
        "refusals": [
            {
                **d,
                "at_local": local(d["at"], zone),
                "company_name": names.get(d["partner"]) or d["partner"],
            }
            for d in report["refusals"]
        ],  # fmt: skip
        "report": report,
    }


def letter(answer: dict[str, Any], controller: str, contact: str) -> str:
    """The reply to the customer, in Japanese, as plain text to print or paste."""
    addressee = answer["addressee"]
    to = " ".join(v for v in (addressee["company_name"], addressee["name"]) if v)
    lines = [
        f"{to or answer['customer_id']} 様",
        "",
        f"{answer['as_of'][:10]}",
        controller,
        "",
        "個人情報の共同利用先に関するご回答",
        "",
        "お問い合わせいただいた、お客様の個人情報を当社が共同利用した販売代理店（利用規約第22条第3項）"
        "について、当社のアクセス記録に基づき、以下のとおりご回答いたします。",
        f"記録の対象期間: {answer['log_since'] or '記録開始'} から {answer['as_of']} まで",
        "",
    ]
    if not answer["recipients"]:
        lines.append("この期間に、お客様の情報を販売代理店に提供した記録はありません。")
    for n, r in enumerate(answer["recipients"], 1):
        designated = f"{r['designated_on']} にお客様がご指定" if r["designated_on"] else "ご指定"
        if r["withdrawn_on"]:
            designated += f"、{r['withdrawn_on']} に指定を取り消し"
        lines += [
            f"{n}. {r['company_name']}（{designated}）",
            f"   提供した項目: {r['items_text']}",
            "   利用目的: " + "、".join(ja for ja, _ in r["purposes"]),
            f"   提供の期間: {r['first']} から {r['last']} まで（{r['count']} 回）",
        ]
    if answer["erased_at"]:
        lines += ["", f"お客様のご請求により、{answer['erased_at']} に、当社が保有する"
                      "お客様の情報を消去し、提供先の販売代理店にも消去を求めました。"]  # fmt: skip
    if answer["stop_use"]["in_force"]:
        lines += ["", f"お客様のご請求により、{answer['stop_use']['since']} から、"
                      "いずれの販売代理店への提供も停止しています。"]  # fmt: skip
    lines += ["", "本件に関するお問い合わせ先（個人情報保護相談窓口）", contact]
    return "\n".join(lines) + "\n"
