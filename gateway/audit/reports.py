"""The privacy desk's reports: a customer's disclosures, and a reseller's for a leak.

Both read the subject index ``audit_subjects (kind, subject_id, seq)`` and join entries by
their key, so their cost follows the size of the answer, not of the log:

- :func:`customer_report` (paragraph 6: "who received my data?") — every data request naming
  the customer: the disclosures (reseller, client, items, purpose, time, allowlist version)
  and the refusals (with the rule that refused);
- :func:`breach_report` (sizing a leak for the regulator) — every customer whose data the
  reseller received in a window, with the items, first and last time and count, and totals.

Only the reseller data actions (``customers.list``, ``customers.read``) are disclosures; the
desk's own reads, which name the same subjects, are not.

A breach window is found by the time index: the first and last entries inside it give a range
of entry numbers, and the partner's index entries are read in that range only, then each
entry's own time is checked. Entries are numbered and timestamped under the same lock, so
times rise with numbers as long as the nodes' clocks agree (keep them on NTP).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, func, select

from gateway.audit.actions import DATA_ACTIONS
from gateway.audit.models import AuditEntry, AuditSubject
from gateway.audit.subjects import log_since
from gateway.audit.window import Window
from gateway.policy import RENAMED_RULES

_COLUMNS = (
    AuditEntry.seq,
    AuditEntry.at,
    AuditEntry.actor_id,
    AuditEntry.action,
    AuditEntry.outcome,
    AuditEntry.rule,
    AuditEntry.purpose,
    AuditEntry.items,
    AuditEntry.allowlist_version,
    AuditEntry.request_id,
    AuditEntry.subjects,
)


def _subjects(raw: str, kind: str) -> list[str]:
    return [subject_id for subject_kind, subject_id in json.loads(raw) if subject_kind == kind]


def _event(row: Row[Any]) -> dict[str, Any]:
    partners = _subjects(row.subjects, "partner")
    return {
        "seq": row.seq,
        "at": row.at,
        "partner": partners[0] if partners else None,
        "client": row.actor_id,
        "action": row.action,
        "items": json.loads(row.items),
        "purpose": row.purpose,
        "allowlist_version": row.allowlist_version,
        "request_id": row.request_id,
    }


def rule_view(logged: str | None) -> dict[str, str | None]:
    """A refusal's rule by its name today, and the name it was logged under if that differs
    (old entries keep their old names: the log is never rewritten)."""
    current = RENAMED_RULES.get(logged or "", logged)
    return {"rule": current} | ({"logged_rule": logged} if current != logged else {})


def subject_query(kind: str, subject_id: str):  # type: ignore[no-untyped-def]
    """Entries naming a subject, read through the subject index, in log order."""
    return (
        select(*_COLUMNS)
        .select_from(AuditSubject)
        .join(AuditEntry, AuditEntry.seq == AuditSubject.seq)
        .where(AuditSubject.kind == kind, AuditSubject.subject_id == subject_id)
        .where(AuditEntry.action.in_(DATA_ACTIONS))
        .order_by(AuditSubject.seq)
    )


def customer_report(connection: Connection, customer_id: str) -> dict[str, Any]:
    disclosures: list[dict[str, Any]] = []
    refusals: list[dict[str, Any]] = []
    per_partner: dict[str, _Tally] = {}
    for row in connection.execute(subject_query("customer", customer_id)):
        event = _event(row)
        if row.outcome == "allowed":
            disclosures.append(event)
            per_partner.setdefault(event["partner"] or "", _Tally()).add(event)
        else:
            refusals.append(event | rule_view(row.rule))
    return {
        "customer_id": customer_id,
        # What "no disclosures" is measured from: the log's first entry.
        "log_since": log_since(connection),
        "disclosures": disclosures,
        "refusals": refusals,
        "recipients": [
            {"partner": partner} | tally.as_dict() for partner, tally in sorted(per_partner.items())
        ],
    }


@dataclass
class _Tally:
    count: int = 0
    first: str | None = None
    last: str | None = None

    def __post_init__(self) -> None:
        self.items: set[str] = set()
        self.purposes: set[str] = set()

    def add(self, event: dict[str, Any]) -> None:
        self.count += 1
        self.first = self.first or event["at"]
        self.last = event["at"]
        self.items.update(event["items"])
        if event["purpose"]:
            self.purposes.add(event["purpose"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": sorted(self.items),
            "purposes": sorted(self.purposes),
            "first": self.first,
            "last": self.last,
            "count": self.count,
        }


def seq_range(connection: Connection, window: Window) -> tuple[int, int] | None:
    """The entry numbers of the first and last entries inside ``window``, by the time index."""
    first_at = connection.scalar(
        select(func.min(AuditEntry.at)).where(AuditEntry.at >= window.start_at)
    )
    last_at = connection.scalar(
        select(func.max(AuditEntry.at)).where(AuditEntry.at < window.end_at)
    )
    if first_at is None or last_at is None or first_at > last_at:
        return None
    low = connection.scalar(select(func.min(AuditEntry.seq)).where(AuditEntry.at == first_at))
    high = connection.scalar(select(func.max(AuditEntry.seq)).where(AuditEntry.at == last_at))
    return low, high


def breach_query(partner_id: str, window: Window, low: int, high: int,
                 client_id: str | None = None):  # type: ignore[no-untyped-def]  # fmt: skip
    query = (
        subject_query("partner", partner_id)
        .where(AuditSubject.seq >= low, AuditSubject.seq <= high)
        .where(AuditEntry.at >= window.start_at, AuditEntry.at < window.end_at)
        .where(AuditEntry.outcome == "allowed")
    )
    if client_id is not None:  # one laptop, one client: its own requests only
        query = query.where(AuditEntry.actor_id == client_id)
    return query


def first_disclosure(connection: Connection, partner_id: str) -> str | None:
    """When the reseller first received data (the default start of a leak's window)."""
    return connection.scalar(
        select(AuditEntry.at)
        .select_from(AuditSubject)
        .join(AuditEntry, AuditEntry.seq == AuditSubject.seq)
        .where(AuditSubject.kind == "partner", AuditSubject.subject_id == partner_id)
        .where(AuditEntry.action.in_(DATA_ACTIONS), AuditEntry.outcome == "allowed")
        .order_by(AuditSubject.seq)
        .limit(1)
    )


def breach_report(connection: Connection, partner_id: str, window: Window,
                  client_id: str | None = None) -> dict[str, Any]:  # fmt: skip
    # One pass over the partner's requests in the window; item lists repeat, so each distinct
    # one is decoded once.
    customers: dict[str, list[Any]] = {}  # id -> [count, first, last, items, purposes]
    item_lists: dict[str, list[str]] = {}
    requests = 0
    bounds = seq_range(connection, window)
    rows: Iterable[Row[Any]] = ()
    if bounds is not None:
        rows = connection.execute(breach_query(partner_id, window, *bounds, client_id))
    for row in rows:
        requests += 1
        names = item_lists.get(row.items)
        if names is None:
            names = item_lists[row.items] = json.loads(row.items)
        for kind, customer_id in json.loads(row.subjects):
            if kind != "customer":
                continue
            tally = customers.get(customer_id)
            if tally is None:
                customers[customer_id] = [1, row.at, row.at, set(names), {row.purpose}]
            else:
                tally[0] += 1
                tally[2] = row.at
                tally[3].update(names)
                tally[4].add(row.purpose)
    per_item: dict[str, int] = {}
    for tally in customers.values():
        for item in tally[3]:
            per_item[item] = per_item.get(item, 0) + 1
    return {
        "partner_id": partner_id,
        "client_id": client_id,
        "since": window.start_at,
        "until": window.last_at,
        "customers": [
            {
                "customer_id": customer_id,
                "items": sorted(items),
                "purposes": sorted(p for p in purposes if p),
                "first": first,
                "last": last,
                "count": count,
            }
            for customer_id, (count, first, last, items, purposes) in sorted(customers.items())
        ],
        "totals": {
            "customers_affected": len(customers),
            "items_affected": sorted(per_item),
            "customers_per_item": dict(sorted(per_item.items())),
            "disclosures": sum(tally[0] for tally in customers.values()),
            "requests": requests,
        },
    }
