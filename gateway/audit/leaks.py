"""Sizing a leak for the regulator (APPI art. 26; the PPC's rules, art. 7 and 8): which
customers' items one reseller — or one of its clients (one laptop, one client) — received in a
window, whether the case must be reported, and by when.

The window defaults to the reseller's first disclosure up to the reported day, in the company's
calendar. The reporting test is answered line by line: the number of persons is computed (more
than 1,000 makes it reportable, art. 7(iv)); whether the leak was for an unlawful purpose such
as theft (iii), involves sensitive personal data (i) or may cause financial harm (ii) is the
officer's judgement, ticked. The deadlines run from the day the company learnt of it: a
preliminary report promptly (the PPC's guidelines: within about 3 to 5 days), the final report
within 30 days — 60 when an unlawful purpose is suspected (art. 8(2)).

What it fills on the PPC's form (art. 8(1)): item 2 (the items leaked, as the notice names
them), item 3 (the number of persons), and the facts of item 1 (the reseller or client, the
period); the CSV lists the persons to notify (item 6) with their contact details from the
store. The cause, secondary harm and measures (items 4, 5, 7, 8) are the desk's to write.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from gateway.audit.answers import local
from gateway.audit.reports import breach_report
from gateway.audit.window import Window
from gateway.customers.models import Customer
from gateway.notice import items_text, notice_items
from gateway.partners.models import Partner

PERSONS_THRESHOLD = 1000  # art. 7(iv): more than this many persons
PRELIMINARY_DAYS = (3, 5)  # "promptly": the PPC's guidelines say about 3 to 5 days
FINAL_DAYS = 30  # art. 8(2)
FINAL_DAYS_UNLAWFUL = 60  # art. 8(2), for art. 7(iii) cases
# What the CSV carries to notify each person (their own data, from the store).
CONTACT_FIELDS = ("company_name", "department", "name", "email", "phone", "address")


@dataclass(frozen=True)
class OfficersFindings:
    """What the privacy officer judges, and when the company learnt of the leak."""

    learnt_on: date
    unlawful_purpose: bool = False  # art. 7(iii): theft, unauthorised access, …
    sensitive: bool = False  # art. 7(i): sensitive personal data (要配慮個人情報)
    financial_harm: bool = False  # art. 7(ii): data whose misuse may cause financial harm


def leak_report(connection: Connection, partner_id: str, window: Window,
                findings: OfficersFindings, zone: ZoneInfo,
                client_id: str | None = None) -> dict[str, Any]:  # fmt: skip
    sized = breach_report(connection, partner_id, window, client_id)
    persons = sized["totals"]["customers_affected"]
    grounds = [
        _ground("sensitive", "7(i)", "要配慮個人情報が含まれる", "sensitive personal data",
                findings.sensitive, computed=False),
        _ground("financial_harm", "7(ii)",
                "不正に利用されることにより財産的被害が生じるおそれがある",
                "misuse may cause financial harm", findings.financial_harm, computed=False),
        _ground("unlawful_purpose", "7(iii)", "不正の目的をもって行われたおそれがある",
                "an unlawful purpose such as theft is suspected", findings.unlawful_purpose,
                computed=False),
        _ground("persons_over_1000", "7(iv)", f"本人の数が{PERSONS_THRESHOLD:,}人を超える",
                f"more than {PERSONS_THRESHOLD:,} persons ({persons:,})",
                persons > PERSONS_THRESHOLD, computed=True),
    ]  # fmt: skip
    reportable = any(g["applies"] for g in grounds)
    final_days = FINAL_DAYS_UNLAWFUL if findings.unlawful_purpose else FINAL_DAYS
    learnt = findings.learnt_on
    name = connection.scalar(select(Partner.name).where(Partner.id == partner_id))
    items = notice_items(sized["totals"]["items_affected"])
    return {
        **sized,
        "company_name": name or partner_id,
        "since_local": local(sized["since"], zone),
        "until_local": local(sized["until"], zone),
        "time_zone": zone.key,
        "items": items,
        "items_text": items_text(items),
        "persons": persons,
        "reporting_test": grounds,
        "reportable": reportable,
        "learnt_on": learnt.isoformat(),
        "deadlines": {
            "preliminary": [(learnt + timedelta(days=d)).isoformat() for d in PRELIMINARY_DAYS],
            "final": (learnt + timedelta(days=final_days)).isoformat(),
            "final_days": final_days,
        }
        if reportable
        else None,
    }


def _ground(name: str, article: str, ja: str, en: str, applies: bool, *,
            computed: bool) -> dict[str, Any]:  # fmt: skip
    return {"ground": name, "article": f"PPC rules art. {article}", "ja": ja, "en": en,
            "applies": applies, "computed": computed}  # fmt: skip


def notification_csv(connection: Connection, report: dict[str, Any], zone: ZoneInfo) -> bytes:
    """The persons to notify, with their contact details from the store and what they were
    affected by; the totals last. UTF-8 with a byte-order mark, for spreadsheet programs."""
    ids = [c["customer_id"] for c in report["customers"]]
    contacts: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        rows = connection.execute(
            select(Customer.customer_id, Customer.content)
            .where(Customer.customer_id.in_(ids[start : start + 500]))
        )  # fmt: skip
        contacts.update({customer_id: json.loads(content) for customer_id, content in rows})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["customer_id", *CONTACT_FIELDS, "items", "first", "last", "disclosures"])
    for row in report["customers"]:
        record = contacts.get(row["customer_id"], {})
        writer.writerow([
            _cell(row["customer_id"]), *(_cell(record.get(name)) for name in CONTACT_FIELDS),
            items_text(notice_items(row["items"])), local(row["first"], zone),
            local(row["last"], zone), row["count"],
        ])  # fmt: skip
    totals = report["totals"]
    writer.writerow([])
    writer.writerow(["persons", report["persons"]])
    writer.writerow(["disclosures", totals["disclosures"]])
    writer.writerow(["requests", totals["requests"]])
    writer.writerow(["items", report["items_text"]])
    writer.writerow(["window", report["since_local"], report["until_local"]])
    return buffer.getvalue().encode("utf-8-sig")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula is quoted (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
