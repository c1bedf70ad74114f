"""``GET /openapi.json``: the OpenAPI 3.1 description of the partner API and the OAuth
endpoints, generated with apispec from the same marshmallow schemas that parse the queries and
shape the answers (the allowlist's), so the description cannot drift from the behaviour."""

from __future__ import annotations

import threading
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Response, current_app, jsonify
from marshmallow import Schema, fields

from gateway import allowlist
from gateway.errors import PROBLEM_JSON
from gateway.oauth.clients import partner_scopes
from gateway.policy import JOINT_USE_PURPOSES
from gateway.removals.service import EVENT_TYPE
from gateway.removals.views import PollRequest
from gateway.sharing.schemas import CustomerListQuery, CustomerQuery

blueprint = Blueprint("openapi", __name__)
_built: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


class Problem(Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    rule = fields.String(metadata={"description": "The access rule that failed, when one did."})


class OAuthError(Schema):
    """RFC 6749 §5.2 error response."""

    error = fields.String(required=True)
    error_description = fields.String()


class TokenResponse(Schema):
    access_token = fields.String(required=True, metadata={"description": "An RFC 9068 JWT."})
    token_type = fields.String(
        required=True,
        metadata={"enum": ["DPoP", "Bearer"],
                  "description": "DPoP when the token is bound to the proof's key (RFC 9449)."},
    )  # fmt: skip
    expires_in = fields.Integer(required=True)
    scope = fields.String(required=True)


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": "Problem"}}}


def _oauth_error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": "OAuthError"}}}


def build(issuer: str) -> dict[str, Any]:
    rules = allowlist.current()
    spec = APISpec(
        title="Joint-Use Gateway partner API",
        version=rules.version,
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={
            "description": (
                "Resellers designated by a customer, under an NDA with the company, receive "
                "exactly the joint-use items of clause 22 paragraph 3 of the terms (allowlist "
                f"version {rules.version}), for a declared joint-use purpose. Every access is "
                "logged before any data leaves."
            )
        },
        servers=[{"url": issuer}],
    )
    spec.components.security_scheme(
        "oauth2",
        {
            "type": "oauth2",
            "description": (
                "Client credentials; private_key_jwt (aud: the issuer) or client_secret_basic. "
                "Tokens are DPoP-bound (RFC 9449) unless the client was registered without a "
                "sender constraint: send them as 'Authorization: DPoP <token>' with a DPoP proof "
                "for each request (htm, htu without query, iat, jti, ath)."
            ),
            "flows": {
                "clientCredentials": {
                    "tokenUrl": f"{issuer}/oauth/token",
                    "scopes": {s: rules.definition.scopes[s] for s in partner_scopes()},
                }
            },
        },
    )
    full = rules.output_schema(rules.field_names)
    spec.components.schema("Customer", schema=full)
    spec.components.schema("Problem", schema=Problem)
    spec.components.schema("OAuthError", schema=OAuthError)
    spec.components.schema("TokenResponse", schema=TokenResponse)
    spec.components.schema(
        "CustomerPage",
        {
            "type": "object",
            "required": ["customers", "next_cursor"],
            "properties": {
                "customers": {"type": "array", "items": {"$ref": "#/components/schemas/Customer"}},
                "next_cursor": {"type": ["string", "null"]},
            },
        },
    )
    denials = {
        "400": _problem("Malformed request, undeclared purpose or a field not shared."),
        "401": _problem("No valid token, or it was revoked (RFC 6750 challenge)."),
        "403": _problem("No NDA in force, or fields outside the token's scopes."),
        "429": _problem("Over the client's rate limit; Retry-After says when to ask again."),
        "503": _problem("The access log cannot be written; nothing was disclosed."),
    }
    security = [{"oauth2": list(partner_scopes())}]
    proof = {
        "in": "header", "name": "DPoP", "required": False, "schema": {"type": "string"},
        "description": "A DPoP proof (RFC 9449 §4) for this request; required with a "
                       "DPoP-bound token, and at the token endpoint for a DPoP client.",
    }  # fmt: skip
    purposes = sorted(JOINT_USE_PURPOSES)
    spec.path(
        path="/v1/customers",
        operations={
            "get": {
                "summary": "The customers who designated the caller",
                "parameters": [{"in": "query", "schema": CustomerListQuery}, proof],
                "security": security,
                "responses": {
                    "200": {"description": "One page.",
                            "content": {"application/json": {"schema": "CustomerPage"}}},
                    **denials,
                },
                "x-joint-use-purposes": purposes,
            }
        },
    )  # fmt: skip
    spec.path(
        path="/v1/customers/{customer_id}",
        operations={
            "get": {
                "summary": "One customer who designated the caller",
                "parameters": [
                    {"in": "path", "name": "customer_id", "required": True,
                     "schema": {"type": "string"}},
                    {"in": "query", "schema": CustomerQuery},
                    proof,
                ],
                "security": security,
                "responses": {
                    "200": {"description": "The customer.",
                            "content": {"application/json": {"schema": "Customer"}}},
                    "404": _problem("No such customer, not designated or withheld: alike."),
                    **denials,
                },
            }
        },
    )  # fmt: skip
    spec.components.schema("PollRequest", schema=PollRequest)
    spec.components.schema(
        "PollResponse",
        {
            "type": "object",
            "required": ["sets", "moreAvailable"],
            "properties": {
                "sets": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "jti → a Security Event Token (RFC 8417, typ secevent+jwt, "
                    "signed with a key of jwks_uri; aud: the reseller's partner id) holding one "
                    f"event, {EVENT_TYPE}: customer_id, reason (stop_use, "
                    "designation_withdrawn, contract_ended, erased), effective_at, erase_by.",
                },
                "moreAvailable": {"type": "boolean"},
            },
        },
    )
    spec.path(
        path="/v1/events",
        operations={
            "post": {
                "summary": "Poll removal events; acknowledge the ones acted on (RFC 8936)",
                "description": (
                    "An acknowledgement (ack) states that the reseller's copy of the customer is "
                    "deleted — for a stop of use, no longer used. Unacknowledged events are "
                    "delivered again; an ack of an unknown or another reseller's jti changes "
                    "nothing. Any token of the reseller's active clients may poll."
                ),
                "parameters": [proof],
                "security": security,
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": "PollRequest"}}},
                "responses": {
                    "200": {"description": "Events not acknowledged yet, oldest first.",
                            "content": {"application/json": {"schema": "PollResponse"}}},
                    **denials,
                },
            }
        },
    )  # fmt: skip
    form = {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}
    for path, summary, ok in (
        ("/oauth/token", "Client credentials grant (RFC 6749 §4.4)", "TokenResponse"),
        ("/oauth/introspect", "Token introspection (RFC 7662)", None),
        ("/oauth/revoke", "Token revocation (RFC 7009)", None),
    ):
        success: dict[str, Any] = {"description": "OK"}
        if ok:
            success["content"] = {"application/json": {"schema": ok}}
        spec.path(
            path=path,
            operations={
                "post": {
                    "summary": summary,
                    "parameters": [proof] if ok else [],
                    "requestBody": {"required": True, "content": form},
                    "responses": {
                        "200": success,
                        "400": _oauth_error("Refused (RFC 6749 §5.2)."),
                        "401": _oauth_error("Client authentication failed."),
                        "429": _oauth_error("Over a rate limit; see Retry-After."),
                    },
                }
            },
        )
    for path, summary in (
        ("/.well-known/oauth-authorization-server", "Authorization server metadata (RFC 8414)"),
        ("/oauth/jwks.json", "Public keys that sign access tokens"),
    ):
        ok = {"200": {"description": "OK"}}
        spec.path(path=path, operations={"get": {"summary": summary, "responses": ok}})
    return spec.to_dict()


@blueprint.get("/openapi.json")
def openapi() -> Response:
    issuer = current_app.extensions["gateway"].config.issuer
    with _lock:
        if issuer not in _built:
            _built[issuer] = build(issuer)
    return jsonify(_built[issuer])
