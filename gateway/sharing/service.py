"""What a reseller may see, as facts for the policy and records for the allowlist to shape.

Pure of HTTP: each function takes a session and the day the designations are judged on
(today, from the caller's clock). Nothing here decides a disclosure — the policy does, from
the facts returned — and nothing here shapes output — the allowlist does, from the stored
content returned.

The list is keyset-paginated: ordered by the reseller's sync key ``(changed_at,
customer_id)`` of :class:`gateway.designations.models.Designation`, read through the index
``(partner_id, changed_at, customer_id)``, so a page costs its own size whatever the table's.
``changed_at`` moves when the customer's shared content changes, when the designation is made
(or takes effect) and when use resumes, so ``updated_since`` returns everything the reseller
has not seen in its current form — including a customer who newly designated it but whose
content is old.

Every page also gives the *sync point* — the ``updated_since`` to pass next time — of the
paging run it belongs to: fixed when the run's first page is read, carried by the cursor
(:mod:`gateway.designations.sync_key` says why it is safe).

The cursor is opaque to resellers: base64url (no padding) of the JSON ``[changed_at,
customer_id, sync_point]`` of the last record returned. It needs no signature: a forged cursor
can only move the caller's position within the caller's own designated customers, or make the
caller's own next sync return more or fewer of its customers again.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Date, Integer, bindparam, exists, select, tuple_
from sqlalchemy.orm import Session

from gateway.clock import isoformat
from gateway.customers.models import Customer
from gateway.db import MAX_EXPANDED, Prepared, RawTransaction
from gateway.designations import sync_key
from gateway.designations.models import Designation
from gateway.errors import InvalidInput

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_MAX_CURSOR = 300
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")
_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


@dataclass(frozen=True)
class SharedCustomer:
    """A customer's stored, allowlisted content (every shared field; null when absent)."""

    customer_id: str
    updated_at: str  # ISO 8601 UTC, when the shared content last changed
    content: dict[str, Any]

    @property
    def record(self) -> dict[str, Any]:
        """What :meth:`gateway.allowlist.Allowlist.shape` takes."""
        return {"customer_id": self.customer_id, "updated_at": self.updated_at, **self.content}


@dataclass(frozen=True)
class Page:
    """One page of a reseller's list."""

    records: list[SharedCustomer]
    next_cursor: str | None  # None: the last page
    sync_point: str  # the updated_since to pass on the next sync


@dataclass(frozen=True)
class CustomerAsSeen:
    """One customer as seen by one reseller on one day: the facts the policy needs."""

    customer: SharedCustomer
    designated: bool  # an active designation of this reseller on that day
    withheld: bool  # stop of use (paragraph 6) or contract ended


def customer_for_partner(
    session: Session | Connection | RawTransaction, partner_id: str, customer_id: str, day: date
) -> CustomerAsSeen | None:
    """``None`` if no such customer exists; otherwise the customer and the facts."""
    if not _CUSTOMER_ID.match(customer_id):
        return None
    row = _CUSTOMER_AS_SEEN.one_or_none(
        session, {"customer_id": customer_id, "partner_id": partner_id, "day": day}
    )
    if row is None:
        return None
    found_id, updated_at, content, stop_use, contract_ended, designated = row
    return CustomerAsSeen(
        customer=_shared(found_id, updated_at, content),
        designated=bool(designated),
        withheld=bool(stop_use or contract_ended),
    )


# The day designations are judged on, bound per request.
_DAY = bindparam("day", type_=Date)

# Built once: which of a list of customers a partner may still see on a day.
_SHAREABLE_NOW = Prepared(
    select(Customer.customer_id)
    .join(Designation, Designation.customer_id == Customer.customer_id)
    .where(
        Customer.customer_id.in_(bindparam("ids", expanding=True)),
        Designation.partner_id == bindparam("partner_id"),
        Designation.active_on_clause(_DAY),
        ~Customer.stop_use,
        ~Customer.contract_ended,
    ),
    expanding="ids",
)

# One statement, built once: the customer and whether its designation of the partner is active.
_CUSTOMER_AS_SEEN = Prepared(
    select(
        Customer.customer_id,
        Customer.updated_at,
        Customer.content,
        Customer.stop_use,
        Customer.contract_ended,
        exists()
        .where(
            Designation.customer_id == Customer.customer_id,
            Designation.partner_id == bindparam("partner_id"),
            Designation.active_on_clause(_DAY),
        )
        .label("designated"),
    ).where(Customer.customer_id == bindparam("customer_id"))
)


def shareable_now(
    connection: Session | Connection | RawTransaction,
    partner_id: str,
    customer_ids: list[str],
    day: date,
) -> set[str]:
    """Which of ``customer_ids`` the partner may still see on ``day``: designated by them
    and not withheld (the re-check made inside the commit that releases a disclosure)."""
    still: set[str] = set()
    for start in range(0, len(customer_ids), MAX_EXPANDED):
        chunk = customer_ids[start : start + MAX_EXPANDED]
        rows = _SHAREABLE_NOW.all(connection, {"ids": chunk, "partner_id": partner_id, "day": day})
        still.update(row[0] for row in rows)
    return still


def customers_for_partner(
    session: Session | Connection | RawTransaction,
    partner_id: str,
    day: date,
    *,
    updated_since: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    now: datetime,
) -> Page:
    """One page of the customers with an active designation of ``partner_id`` on ``day``
    and not withheld, in sync-key order; ``now``: when the request is answered.

    Raises :class:`InvalidInput` for a malformed cursor, a naive or future ``updated_since``
    or a ``limit`` outside 1..:data:`MAX_LIMIT`.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit: must be from 1 to {MAX_LIMIT}")
    params: dict[str, Any] = {"partner_id": partner_id, "day": day, "limit": limit + 1}
    if updated_since is not None:
        if updated_since.tzinfo is None or updated_since.utcoffset() is None:
            raise InvalidInput("updated_since: give a time zone offset (e.g. Z or +09:00)")
        params["since"] = isoformat(updated_since)
        if updated_since > now:  # a corrupt sync point would skip every change until then
            raise InvalidInput(f"updated_since: later than the gateway's clock "
                               f"({isoformat(now)}); pass the previous page's "
                               "next_updated_since")  # fmt: skip
    point = sync_key.sync_point(now)
    if cursor is not None:
        params["after_changed_at"], params["after_customer_id"], point = decode_cursor(cursor, now)
    page_query = _PAGES[updated_since is not None, cursor is not None]
    rows = page_query.all(session, params)
    page = rows[:limit]
    records = [
        _shared(customer_id, updated_at, content) for _, customer_id, updated_at, content in page
    ]
    next_cursor = encode_cursor(page[-1][0], page[-1][1], point) if len(rows) > limit else None
    return Page(records, next_cursor, point)


def _page_query(since: bool, after: bool) -> Prepared:
    """A page of a partner's shareable customers in sync-key order; ``since`` and ``after``
    add the ``updated_since`` and cursor conditions. Four statements, built once."""
    query = (
        select(Designation.changed_at, Customer.customer_id, Customer.updated_at, Customer.content)
        .join(Customer, Customer.customer_id == Designation.customer_id)
        .where(
            Designation.partner_id == bindparam("partner_id"),
            Designation.active_on_clause(_DAY),
            ~Customer.stop_use,
            ~Customer.contract_ended,
        )
        .order_by(Designation.changed_at, Designation.customer_id)
        .limit(bindparam("limit", type_=Integer))
    )
    if since:
        query = query.where(Designation.changed_at >= bindparam("since"))
    if after:
        query = query.where(
            tuple_(Designation.changed_at, Designation.customer_id)
            > tuple_(bindparam("after_changed_at"), bindparam("after_customer_id"))
        )
    return Prepared(query)


_PAGES = {(since, after): _page_query(since, after) for since in (False, True)
          for after in (False, True)}  # fmt: skip


def encode_cursor(changed_at: str, customer_id: str, point: str) -> str:
    raw = json.dumps([changed_at, customer_id, point], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, now: datetime) -> tuple[str, str, str]:
    """The key and sync point a cursor encodes (a cursor issued before cursors carried one:
    the sync point of a run beginning ``now``); :class:`InvalidInput` for anything this
    gateway did not issue."""
    refused = InvalidInput("cursor: not a cursor from this API; start again without one")
    if not isinstance(cursor, str) or not 0 < len(cursor) <= _MAX_CURSOR:
        raise refused
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        key = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):
        raise refused from None
    if (
        not isinstance(key, list)
        or len(key) not in (2, 3)
        or not all(isinstance(part, str) for part in key)
        or not _INSTANT.match(key[0])
        or not _CUSTOMER_ID.match(key[1])
        or (len(key) == 3 and not _INSTANT.match(key[2]))
    ):
        raise refused
    return key[0], key[1], key[2] if len(key) == 3 else sync_key.sync_point(now)


def _shared(customer_id: str, updated_at: str, content: str) -> SharedCustomer:
    return SharedCustomer(customer_id, updated_at, json.loads(content))
