"""The partner API: ``GET /v1/customers`` and ``GET /v1/customers/{customer_id}``.

Each request flows forward once: the resource check (token, then live caller state) →
parse → decide (:func:`gateway.policy.decide`) → fetch → shape (the allowlist) → log → respond.
The view hands its log entry to the resource check, which commits it — after judging the
caller and the disclosed customers again — before the response leaves; allowed or denied,
every request leaves exactly one entry.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from marshmallow import Schema, ValidationError

from gateway import allowlist
from gateway.audit.spine import Event, Subject
from gateway.clock import today
from gateway.errors import InvalidInput
from gateway.oauth.resource import Access, challenge, not_found, require_token
from gateway.policy import JOINT_USE_PURPOSES, DisclosureFacts, Rule, decide
from gateway.problems import problem_response
from gateway.sharing import service
from gateway.sharing.schemas import CustomerListQuery, CustomerQuery
from gateway.validation import describe

blueprint = Blueprint("sharing", __name__, url_prefix="/v1")

_LIST_QUERY = CustomerListQuery()
_READ_QUERY = CustomerQuery()
_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")

REQUEST_VALID = Rule("request_valid", 400, "invalid_request", "the request is malformed",
                     lambda a, d: False)  # fmt: skip


class Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


@blueprint.get("/customers")
@require_token("customers.list")
def list_customers() -> Response:
    access: Access = g.access
    try:
        query = _parse(_LIST_QUERY, "customers.list")
        requested = _decide(access, query, "customers.list", customer=None)
        clock = current_app.extensions["gateway"].clock
        page = service.customers_for_partner(
            access.session, access.partner_id, today(clock),
            updated_since=query["updated_since"], limit=query["limit"], cursor=query["cursor"],
            now=clock.now(),
        )  # fmt: skip
    except Refused as refused:
        return refused.response
    except InvalidInput as error:
        return _refuse_malformed(access, "customers.list", error.detail)
    rules = allowlist.current()
    shaped = [rules.shape(r.record, requested) for r in page.records]
    _log_disclosure(access, "customers.list", query, requested,
                    [r.customer_id for r in page.records])  # fmt: skip
    return _no_store(jsonify(customers=shaped, next_cursor=page.next_cursor,
                             next_updated_since=page.sync_point))  # fmt: skip


@blueprint.get("/customers/<customer_id>")
@require_token("customers.read")
def read_customer(customer_id: str) -> Response:
    access: Access = g.access
    try:
        query = _parse(_READ_QUERY, "customers.read", customer_id)
        seen = service.customer_for_partner(
            access.session, access.partner_id, customer_id,
            today(current_app.extensions["gateway"].clock),
        )  # fmt: skip
        requested = _decide(access, query, "customers.read", customer=(customer_id, seen))
    except Refused as refused:
        return refused.response
    shaped = allowlist.current().shape(seen.customer.record, requested)
    _log_disclosure(access, "customers.read", query, requested, [customer_id])
    return _no_store(jsonify(shaped))


def _parse(schema: Schema, action: str, customer_id: str | None = None) -> dict[str, Any]:
    # Resellers repeat the same few query strings (a purpose, a page size) thousands of times:
    # the same text always parses to the same values, so a valid one is parsed once.
    key = (id(schema), request.query_string)
    parsed = _PARSED.get(key)
    if parsed is not None:
        return dict(parsed)
    if len(_PARSED) >= _PARSED_SIZE:
        _PARSED.clear()
    _PARSED[key] = parsed = _parse_anew(schema, action, customer_id)
    return dict(parsed)


_PARSED: dict[tuple[int, bytes], dict[str, Any]] = {}
_PARSED_SIZE = 1024


def _parse_anew(schema: Schema, action: str, customer_id: str | None) -> dict[str, Any]:
    raw = request.args.to_dict(flat=False)
    repeated = sorted(name for name, values in raw.items() if len(values) > 1)
    detail = None
    if repeated:
        detail = f"{', '.join(repeated)}: give each parameter once"
    else:
        try:
            return schema.load({name: values[0] for name, values in raw.items()})
        except ValidationError as error:
            detail = describe(error.messages)
    raise Refused(_refuse_malformed(g.access, action, detail, customer_id))


def _refuse_malformed(access: Access, action: str, detail: str,
                      customer_id: str | None = None) -> Response:  # fmt: skip
    access.deny(REQUEST_VALID, action=action, subjects=_customer_subject(customer_id))
    return problem_response(400, REQUEST_VALID.name, detail)


Seen = tuple[str, service.CustomerAsSeen | None]


def _decide(access: Access, query: dict[str, Any], action: str,
            customer: Seen | None) -> frozenset[str]:  # fmt: skip
    """Decide the disclosure; returns the fields to disclose, or raises :class:`Refused`."""
    rules = allowlist.current()
    scoped = rules.fields_for_scopes(access.token.scopes)
    requested = (
        frozenset(name.strip() for name in query["fields"].split(",")) | allowlist.ALWAYS
        if query["fields"]
        else scoped
    )
    seen = customer[1] if customer else None
    facts = DisclosureFacts(
        purpose=query["purpose"],
        requested_fields=requested,
        scoped_fields=scoped,
        allowlisted_fields=rules.field_names,
        designated=None if customer is None else (seen is not None and seen.designated),
        withheld=None if customer is None else (seen is not None and seen.withheld),
    )
    decision = decide(access.facts, facts)
    if decision.allowed:
        return requested
    rule = decision.rule
    purpose = query["purpose"] if query["purpose"] in JOINT_USE_PURPOSES else None
    subject = _customer_subject(customer[0] if customer else None)
    access.deny(rule, action=action, subjects=subject, purpose=purpose)
    if rule.status == 404:
        raise Refused(not_found(rule))
    raise Refused(challenge(rule, rule.detail, rule.status))


def _log_disclosure(access: Access, action: str, query: dict[str, Any],
                    requested: frozenset[str], customer_ids: list[str]) -> None:  # fmt: skip
    """The disclosure's entry: who received which items of whom, for what, under which
    allowlist — names and ids only."""
    rules = allowlist.current()
    access.log(
        Event(
            action=action,
            actor=access.actor,
            subjects=access.subjects + tuple(Subject("customer", c) for c in customer_ids),
            purpose=query["purpose"],
            items=tuple(sorted(requested)),
            allowlist_version=rules.version,
            request_id=g.get("request_id"),
            details={"count": len(customer_ids)},
        )
    )


def _customer_subject(customer_id: str | None) -> tuple[Subject, ...]:
    if customer_id and _CUSTOMER_ID.match(customer_id):
        return (Subject("customer", customer_id),)
    return ()


def _no_store(response: Response) -> Response:
    # Personal data: no shared cache may keep it (RFC 9111 §5.2.2.5).
    response.headers["Cache-Control"] = "no-store"
    return response
