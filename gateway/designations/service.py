"""Recording which resellers a customer designated (clause 22, paragraph 3).

- ``add``: the customer designates a reseller, from a day (today by default). Adding a
  designation that was withdrawn makes it active again from the new day.
- ``withdraw``: the customer withdraws it; the reseller's access to that customer ends at
  the commit (the designation is inactive from that day on).
- ``import``: one designation a line, ``{"customer_id", "partner_id", "designated_on"}``, as
  the company's system exports the current state; each line is an ``add``. Like the customer
  import, the file is applied whole or not at all; every bad line is listed.

An unknown customer or partner is an error, not a silent skip: a designation of a reseller the
gateway does not know cannot be honoured, and one for an unknown customer is a data mismatch
the operator must see. So is a designation mixing the sandbox and real customers: a sandbox
reseller is designated by generated customers (ids ``SANDBOX-…``) only, and they designate
nothing else (:mod:`gateway.sandbox`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, BinaryIO

from marshmallow import ValidationError, fields
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.allowlist import current as current_allowlist
from gateway.audit.spine import Actor, Event, Subject, record
from gateway.clock import COMPANY_ZONE, Clock, isoformat, today
from gateway.customers.models import Customer
from gateway.designations import sync_key
from gateway.designations.models import Designation
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.jsonlines import REFUSED, ImportRefused, ImportTally, read_lines
from gateway.partners.models import Partner
from gateway.partners.schemas import PARTNER_ID
from gateway.removals import service as removals
from gateway.removals.models import DESIGNATION_WITHDRAWN
from gateway.sandbox import designation_refusal
from gateway.validation import StrictSchema, describe, load

MAX_LINE_BYTES = 4096


def _customer_id(value: str) -> None:
    """The form the allowlist gives customer_id at the customer import door."""
    pattern = current_allowlist().spec("customer_id").pattern or ""
    if not re.match(pattern, value):
        raise ValidationError("is not a customer id")


class DesignationInput(StrictSchema):
    customer_id = fields.String(required=True, validate=_customer_id)
    partner_id = fields.String(required=True, validate=PARTNER_ID)
    designated_on = fields.Date(required=True)


@dataclass
class DesignationImportSummary(ImportTally):
    created: int = 0
    reactivated: int = 0
    changed: int = 0
    unchanged: int = 0

    def applied_counts(self) -> dict[str, int]:
        return {"created": self.created, "reactivated": self.reactivated,
                "changed": self.changed, "unchanged": self.unchanged}  # fmt: skip

    def line(self) -> str:
        if not self.applied:
            return f"{REFUSED}: {self.bad} bad of {self.lines} lines"
        return (
            f"imported {self.records} designations from {self.lines} lines: "
            f"{self.created} created, {self.reactivated} reactivated, {self.changed} changed, "
            f"{self.unchanged} unchanged"
        )


def add_designation(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    customer_id: str,
    partner_id: str,
    designated_on: date | str | None = None,
    request_id: str | None = None,
) -> Designation:
    data = load(
        DesignationInput(),
        {
            "customer_id": customer_id,
            "partner_id": partner_id,
            "designated_on": str(designated_on or today(clock)),
        },
    )
    _require_same_world(session, data["customer_id"], data["partner_id"])
    designation, outcome = _upsert(session, clock, **data)
    if outcome == "unchanged":
        raise Conflict(f"customer {customer_id!r} already designates {partner_id!r}")
    record(
        session,
        Event(
            action="designation.add",
            actor=actor,
            subjects=(Subject("customer", customer_id), Subject("partner", partner_id)),
            request_id=request_id,
            details={"designated_on": designation.designated_on.isoformat(), "result": outcome},
        ),
        clock=clock,
    )
    return designation


def withdraw_designation(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    customer_id: str,
    partner_id: str,
    request_id: str | None = None,
) -> Designation:
    """End ``partner_id``'s access to ``customer_id`` at once."""
    _require_known(session, customer_id, partner_id)
    designation = session.get(Designation, (customer_id, partner_id))
    day = today(clock)
    if designation is None or designation.withdrawn_on is not None:
        raise Conflict(f"customer {customer_id!r} has no designation of {partner_id!r} to withdraw")
    # Withdrawn on day D means inactive on D: access ends now, not at midnight.
    designation.withdrawn_on = max(day, designation.designated_on)
    record(
        session,
        Event(
            action="designation.withdraw",
            actor=actor,
            subjects=(Subject("customer", customer_id), Subject("partner", partner_id)),
            request_id=request_id,
            details={"withdrawn_on": designation.withdrawn_on.isoformat()},
        ),
        clock=clock,
    )
    # The reseller learns of it, if it ever received the customer (gateway.removals).
    removals.notify(session, clock, customer_id=customer_id, reason=DESIGNATION_WITHDRAWN,
                    only=(partner_id,), request_id=request_id)  # fmt: skip
    return designation


def import_designations(
    session: Session,
    clock: Clock,
    actor: Actor,
    source: BinaryIO,
    *,
    progress: Callable[[int], None] | None = None,
    request_id: str | None = None,
) -> DesignationImportSummary:
    """Stream ``source`` (JSON Lines) inside the caller's transaction; all or nothing."""
    summary = DesignationImportSummary()
    schema = DesignationInput()
    known_partners = dict(session.execute(select(Partner.id, Partner.sandbox)).all())
    for number, raw, consumed in read_lines(source, MAX_LINE_BYTES):
        summary.lines = number
        if progress:
            progress(consumed)
        if raw is not None and not raw.strip():
            continue
        try:
            data = _parse(raw, schema)
            if data["partner_id"] not in known_partners:
                raise InvalidInput("partner_id: no such partner")
            if session.get(Customer, data["customer_id"]) is None:
                raise InvalidInput("customer_id: no such customer")
            mixed = designation_refusal(data["customer_id"], data["partner_id"],
                                        known_partners[data["partner_id"]])  # fmt: skip
            if mixed:
                raise InvalidInput(mixed)
        except InvalidInput as bad:
            summary.refuse_line(number, bad.detail)
            continue
        summary.records += 1
        if summary.bad:
            continue
        _, outcome = _upsert(session, clock, **data)
        setattr(summary, outcome, getattr(summary, outcome) + 1)
        if summary.records % 1000 == 0:
            session.flush()
            session.expunge_all()  # bounded memory: nothing below needs the rows again
    if summary.bad:
        raise ImportRefused(summary, summary.line())
    record(
        session,
        Event(
            action="designations.import",
            actor=actor,
            request_id=request_id,
            details={k: v for k, v in summary.as_dict().items() if isinstance(v, int | bool)},
        ),
        clock=clock,
    )
    return summary


def _upsert(
    session: Session, clock: Clock, *, customer_id: str, partner_id: str, designated_on: date
) -> tuple[Designation, str]:
    """Make the designation active from ``designated_on``; returns it and what happened:
    ``created``, ``reactivated``, ``changed`` (a new start day) or ``unchanged``."""
    _require_known(session, customer_id, partner_id)
    # The reseller's sync key: visible from now, or from the first day of the designation.
    # The day starts at midnight on the company's calendar, when the designation takes effect
    # (a UTC midnight would be after it east of Greenwich, and a sync between the two would
    # pass it by west of it).
    starts = datetime.combine(designated_on, time(), tzinfo=getattr(clock, "zone", COMPANY_ZONE))
    changed_at = max(sync_key.stamp(session, clock), isoformat(starts))
    designation = session.get(Designation, (customer_id, partner_id))
    if designation is None:
        designation = Designation(
            customer_id=customer_id,
            partner_id=partner_id,
            designated_on=designated_on,
            withdrawn_on=None,
            changed_at=changed_at,
        )
        session.add(designation)
        return designation, "created"
    if designation.withdrawn_on is not None:
        outcome = "reactivated"
    elif designation.designated_on != designated_on:
        outcome = "changed"
    else:
        return designation, "unchanged"
    designation.designated_on = designated_on
    designation.withdrawn_on = None
    designation.changed_at = changed_at
    return designation, outcome


def _require_known(session: Session, customer_id: str, partner_id: str) -> None:
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"no customer {customer_id!r}")
    if session.get(Partner, partner_id) is None:
        raise NotFound(f"no partner {partner_id!r}")


def _require_same_world(session: Session, customer_id: str, partner_id: str) -> None:
    """Refuse a designation mixing a sandbox reseller and a real customer, or a generated
    customer and a real reseller (:mod:`gateway.sandbox`)."""
    _require_known(session, customer_id, partner_id)
    partner = session.get(Partner, partner_id)
    mixed = designation_refusal(customer_id, partner_id, bool(partner and partner.sandbox))
    if mixed:
        raise InvalidInput(mixed)


def _parse(raw: bytes | None, schema: DesignationInput) -> dict[str, Any]:
    if raw is None:
        raise InvalidInput(f"longer than {MAX_LINE_BYTES} bytes")
    try:
        value = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidInput("not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise InvalidInput(f"malformed JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise InvalidInput("malformed JSON (nested too deeply)") from None
    if not isinstance(value, dict):
        raise InvalidInput("not a JSON object")
    try:
        return schema.load(value)
    except ValidationError as error:
        raise InvalidInput(describe(error.messages)) from None
