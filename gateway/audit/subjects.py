"""Who the privacy desk asks about: a customer or a reseller the gateway knows — or a clear
"unknown", with near matches, never a clean zero.

A report about an id the gateway has never seen (a typo, ``demo-0001`` for ``DEMO-0001``, a
reseller's company name typed for its id) would otherwise answer "0 disclosures" or "0
customers affected", and the desk could tell a customer that nobody received their data, or a
regulator that a leak touched no one. An id is *known* when it is in the store (the customers
or partners table) or the access log names it (the subject index: an erased customer, a
removed reseller); anything else is refused with :class:`UnknownSubject`, which suggests the
ids that differ only in case or character width, and, for a reseller, whose company name
matches what was typed.

The desk may also find a customer by company, name, phone or email in the store (it holds the
customer's own data); the log still holds no values.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exists, func, or_, select

from gateway.audit.models import AuditEntry, AuditSubject
from gateway.customers.models import Customer
from gateway.errors import GatewayError
from gateway.partners.models import Partner

_MAX_SUGGESTIONS = 5
# The customer fields the desk may search by, besides the id.
SEARCHED_FIELDS = ("company_name", "name", "email", "phone")


class UnknownSubject(GatewayError):
    rule = "subject_known"
    status = 404

    def __init__(self, kind: str, typed: str, suggestions: list[str]) -> None:
        label = {"customer": "customer", "partner": "reseller"}[kind]
        detail = (
            f"no {label} {typed!r} is known to the gateway (not in the store, never in the log)"
        )
        if suggestions:
            detail += "; did you mean " + ", ".join(suggestions) + "?"
        super().__init__(detail, suggestions=suggestions)
        self.kind = kind
        self.suggestions = suggestions


@dataclass(frozen=True)
class CustomerMatch:
    """A customer found by the desk's search (their own data, from the store)."""

    customer_id: str
    company_name: str | None
    name: str | None
    email: str | None
    phone: str | None


def normal(text: str) -> str:
    """What a typist might not have meant to distinguish: character width (ＤＥＭＯ), case."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


def in_log(connection: Connection, kind: str, subject_id: str) -> bool:
    """Does any entry name this subject? (One probe of the subject index.)"""
    probe = select(exists().where(AuditSubject.kind == kind, AuditSubject.subject_id == subject_id))
    return bool(connection.scalar(probe))


def require_customer(connection: Connection, customer_id: str) -> None:
    """Refuse an id no customer has in the store or the log, with near matches."""
    if connection.scalar(select(exists().where(Customer.customer_id == customer_id))):
        return
    if in_log(connection, "customer", customer_id):
        return
    raise UnknownSubject("customer", customer_id, _similar_customers(connection, customer_id))


def require_partner(connection: Connection, partner_id: str) -> None:
    """Refuse an id no reseller has in the store or the log, with near matches (its id in
    another case or width, or a company name that matches what was typed)."""
    if connection.scalar(select(exists().where(Partner.id == partner_id))):
        return
    if in_log(connection, "partner", partner_id):
        return
    raise UnknownSubject("partner", partner_id, similar_partners(connection, partner_id))


def similar_partners(connection: Connection, typed: str) -> list[str]:
    wanted = normal(typed)
    found = [
        partner_id
        for partner_id, name in partner_choices(connection)
        if normal(partner_id) == wanted or (wanted and wanted in normal(name))
    ]
    return found[:_MAX_SUGGESTIONS]


def logged_partners(connection: Connection) -> list[str]:
    """Every reseller id the log names, by skipping through the subject index: one seek a
    reseller, however long the log."""
    found: list[str] = []
    while True:
        query = select(func.min(AuditSubject.subject_id)).where(AuditSubject.kind == "partner")
        if found:
            query = query.where(AuditSubject.subject_id > found[-1])
        following = connection.scalar(query)
        if following is None:
            return found
        found.append(following)


def _similar_customers(connection: Connection, typed: str) -> list[str]:
    wanted = normal(typed)
    if not wanted:
        return []
    # Ids are ASCII (the import door's rule): once normalised, a case-insensitive match in the
    # store; a search of the customers' own data as well (a company name typed for an id).
    same = connection.scalars(
        select(Customer.customer_id)
        .where(func.lower(Customer.customer_id) == wanted)
        .limit(_MAX_SUGGESTIONS)
    ).all()
    found = list(same) + [m.customer_id for m in find_customers(connection, typed)]
    return list(dict.fromkeys(found))[:_MAX_SUGGESTIONS]


def find_customers(connection: Connection, query: str, limit: int = 20) -> list[CustomerMatch]:
    """Customers whose id, company name, name, email or phone contains ``query`` (width and
    case aside) — for the desk's search, at most ``limit``. A scan of the store: fine for a
    person's search, not for the hot path."""
    wanted = normal(query)
    if len(wanted) < 2:
        return []
    pattern = "%" + _escape(unicodedata.normalize("NFKC", query).strip()) + "%"
    candidates = connection.execute(
        select(Customer.customer_id, Customer.content)
        .where(
            or_(
                Customer.customer_id.ilike(pattern, escape="\\"),
                Customer.content.ilike(pattern, escape="\\"),
            )
        )  # fmt: skip
        .order_by(Customer.customer_id)
        .limit(limit * 5)
    )
    matches = []
    for customer_id, content in candidates:
        record: dict[str, Any] = json.loads(content)
        fields = {name: record.get(name) for name in SEARCHED_FIELDS}
        texts = [customer_id, *(v for v in fields.values() if isinstance(v, str))]
        if any(wanted in normal(text) for text in texts):
            matches.append(CustomerMatch(customer_id, **fields))
            if len(matches) == limit:
                break
    return matches


def partner_choices(connection: Connection) -> list[tuple[str, str]]:
    """Every reseller the desk may ask about — registered, or named by the log — as (id,
    company name), by name: the console's forms pick from this list, so no id is mistyped."""
    names: dict[str, str] = {
        pid: name for pid, name in connection.execute(select(Partner.id, Partner.name))
    }
    for partner_id in logged_partners(connection):
        names.setdefault(partner_id, "")
    return sorted(names.items(), key=lambda pair: (normal(pair[1] or pair[0]), pair[0]))


def log_since(connection: Connection) -> str | None:
    """The time of the log's first entry: what "nothing recorded" is measured from."""
    return connection.scalar(select(AuditEntry.at).order_by(AuditEntry.seq).limit(1))


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
