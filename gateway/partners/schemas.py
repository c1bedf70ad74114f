"""Inputs and outputs of the partner commands.

Inputs are refused, not trimmed: an unknown field or a bad value is an error that names it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from gateway.validation import StrictSchema

PARTNER_ID = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z",
    error="must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit",
)
_PRINTABLE = validate.Regexp(r"^[^\x00-\x1f\x7f]*\Z", error="must not contain control characters")


def _text(max_length: int) -> fields.String:
    return fields.String(
        required=True,
        validate=[validate.Length(min=1, max=max_length), _PRINTABLE],
    )


class PartnerInput(StrictSchema):
    id = fields.String(required=True, validate=PARTNER_ID)
    name = _text(200)


class NdaInput(StrictSchema):
    reference = _text(100)
    signed_on = fields.Date(required=True)
    expires_on = fields.Date(required=True)
    document_sha256 = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9a-f]{64}\Z"))

    @validates_schema
    def _expires_after_signing(self, data: dict[str, Any], **_: Any) -> None:
        signed_on: date = data["signed_on"]
        expires_on: date = data["expires_on"]
        if expires_on < signed_on:
            raise ValidationError("expires before it was signed", field_name="expires_on")


class RevocationInput(StrictSchema):
    reason = _text(500)


class LimitsInput(StrictSchema):
    # None returns the reseller to the gateway's default (GATEWAY_RATE_LIMIT_PER_MINUTE).
    per_minute = fields.Integer(
        required=True, allow_none=True, strict=True,
        validate=validate.Range(min=1, max=1_000_000),
    )  # fmt: skip


class NdaOutput(Schema):
    reference = fields.String()
    signed_on = fields.Date()
    expires_on = fields.Date()
    document_sha256 = fields.String(allow_none=True)
    recorded_at = fields.String()


class PartnerOutput(Schema):
    id = fields.String()
    name = fields.String()
    status = fields.String()
    created_at = fields.String()
    revoked_at = fields.String(allow_none=True)
    revoke_reason = fields.String(allow_none=True)
    rate_limit_per_minute = fields.Integer(allow_none=True)
    nda_in_force = fields.Nested(NdaOutput, allow_none=True)
    ndas = fields.List(fields.Nested(NdaOutput))
