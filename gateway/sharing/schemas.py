"""The partner API's query parameters. Unknown or repeated parameters are refused, not
ignored: a typo in ``fields`` or ``purpose`` must not silently widen or narrow a request."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import fields, validate

from gateway.sharing.service import DEFAULT_LIMIT, MAX_LIMIT
from gateway.validation import StrictSchema

_PURPOSE = "The joint-use purpose of this access: `inquiry_response` or `service_contact`."
_FIELDS = (
    "Comma-separated top-level fields to return, within the token's scopes; "
    "`customer_id` and `updated_at` always come. Default: every field the scopes grant."
)


# Instants the store can represent in UTC (year 1 or 9999 with an offset cannot be).
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


# A "+" in a query string is a space once decoded (the URL form encoding): say so.
_INSTANT_HELP = (
    "give the previous page's next_updated_since, or an ISO 8601 instant with an "
    "offset: 2026-12-01T00:00:00Z (a + in an offset must be sent as %2B)"
)


class CustomerQuery(StrictSchema):
    # Absent: refused by the policy as purpose_declared, which says what to declare.
    purpose = fields.String(load_default=None, metadata={"description": _PURPOSE})
    fields = fields.String(
        load_default=None, validate=validate.Length(min=1, max=500),
        metadata={"description": _FIELDS},
    )  # fmt: skip


class CustomerListQuery(CustomerQuery):
    updated_since = fields.AwareDateTime(
        load_default=None,
        validate=validate.Range(min=_EARLIEST, max=_LATEST, error="out of range"),
        error_messages={"invalid": _INSTANT_HELP, "invalid_awareness": _INSTANT_HELP},
        metadata={"description": "The previous sync's `next_updated_since`: customers changed "
                  "for you at or after it (by the gateway's sync position, not `updated_at`)."},
    )  # fmt: skip
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT, validate=validate.Range(1, MAX_LIMIT),
        metadata={"description": f"Page size, 1 to {MAX_LIMIT}."},
    )  # fmt: skip
    cursor = fields.String(
        load_default=None, validate=validate.Length(min=1, max=200),
        metadata={"description": "`next_cursor` of the previous page, as given."},
    )  # fmt: skip
