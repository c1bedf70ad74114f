"""``GET /openapi.json``: the OpenAPI 3.1 description of the partner API and the OAuth
endpoints, generated with apispec from the same marshmallow schemas that parse the queries and
shape the answers (the allowlist's), so the description cannot drift from the behaviour.

What marshmallow cannot say is added here from the same sources: each shared field's length,
pattern and choices from the allowlist definition, the ``rule`` values from the error
catalogue (:data:`gateway.problems.CATALOGUE`), the purposes from the policy.
``tests/sharing/test_openapi_conformance.py`` holds the API's real answers to this document.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Response, current_app, jsonify
from marshmallow import Schema, fields

from gateway import allowlist
from gateway.allowlist import FieldSpec
from gateway.allowlist.schemas import StoredDecimal
from gateway.oauth.clients import partner_scopes
from gateway.policy import JOINT_USE_PURPOSES
from gateway.problems import CATALOGUE, PROBLEM_JSON
from gateway.removals.service import EVENT_TYPE
from gateway.removals.views import PollRequest
from gateway.sharing.schemas import CustomerListQuery, CustomerQuery

blueprint = Blueprint("openapi", __name__)
_built: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()

# gateway.clock.isoformat: fixed-width UTC with microseconds, the form of every instant the
# gateway sets itself (updated_at, next_updated_since).
INSTANT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"
# A decimal kind is stored and sent as exact decimal text (gateway.allowlist.schemas): an
# optional sign, digits, and the fraction digits the source gave ("5500", "-300", "1980.50").
DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
# RFC 6749 §5.2: error and error_description are printable ASCII but for '"' and '\'.
OAUTH_TEXT = r"^[\x20-\x21\x23-\x5B\x5D-\x7E]*$"


class TokenResponse(Schema):
    access_token = fields.String(required=True, metadata={"description": "An RFC 9068 JWT."})
    token_type = fields.String(
        required=True,
        metadata={"enum": ["DPoP", "Bearer"],
                  "description": "DPoP when the token is bound to the proof's key (RFC 9449)."},
    )  # fmt: skip
    expires_in = fields.Integer(required=True)
    scope = fields.String(required=True)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _literal(text: str) -> str:
    """``text`` as an ECMA-262 pattern matching itself (JSON Schema's regex dialect)."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", text)


def _ecma(pattern: str) -> str:
    """An allowlist pattern (Python ``re``) in JSON Schema's dialect: ``\\A``/``\\Z`` anchor
    at the ends there as ``^``/``$`` do (ECMA-262's ``$`` never matches before a newline)."""
    return pattern.replace(r"\A", "^").replace(r"\Z", "$")


# --- errors -----------------------------------------------------------------------------------


def _error_schemas(issuer: str) -> dict[str, dict[str, Any]]:
    page = {
        "type": "string",
        "format": "uri",
        "pattern": f"^{_literal(issuer)}/problems/[a-z][a-z_]*$",
        "description": f"`{issuer}/problems/{{rule}}`: a page explaining the rule and what to do.",
    }
    problem = {
        "type": "object",
        "description": "RFC 9457 problem details: every refusal of the partner API.",
        "required": ["type", "title", "status", "detail", "rule"],
        "properties": {
            "type": page,
            "title": {"type": "string", "description": "The status's HTTP reason phrase."},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "What was wrong with this request."},
            "rule": _ref("Rule"),
        },
        "additionalProperties": False,
    }
    set_error = {
        "err": {"type": "string", "description": "RFC 8936 §2.4.4 error code."},
        "description": {"type": "string", "description": "RFC 8936 §2.4.4: the detail again."},
    }
    return {
        "Rule": {
            "type": "string",
            "enum": sorted(CATALOGUE),
            "description": "The check that failed; stable, for programs to branch on. "
            f"`{issuer}/problems/{{rule}}` explains each.",
        },
        "Problem": problem,
        "PollProblem": problem
        | {
            "description": "A refused poll: RFC 9457 problem details, with RFC 8936's members.",
            "required": [*problem["required"], "err", "description"],
            "properties": problem["properties"] | set_error,
        },
        "OAuthError": {
            "type": "object",
            "description": "RFC 6749 §5.2 error response, with the rule that failed and its "
            "page as error_uri.",
            "required": ["error", "error_description", "rule", "error_uri"],
            "properties": {
                "error": {
                    "type": "string",
                    "pattern": OAUTH_TEXT,
                    "description": "RFC 6749 §5.2 error code.",
                },
                "error_description": {"type": "string", "pattern": OAUTH_TEXT},
                "rule": _ref("Rule"),
                "error_uri": page,
            },
            "additionalProperties": False,
        },
    }


def _answer(description: str, media_type: str, schema: str, headers: dict[str, Any]) -> dict:
    answer = {"description": description, "content": {media_type: {"schema": _ref(schema)}}}
    return answer | ({"headers": headers} if headers else {})


def _problem(description: str, schema: str = "Problem", **headers: dict[str, Any]) -> dict:
    return _answer(description, PROBLEM_JSON, schema, headers)


def _oauth_error(description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    return _answer(description, "application/json", "OAuthError", headers)


RETRY_AFTER = {
    "description": "Seconds to wait before asking again (RFC 9110 §10.2.3).",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


def _challenge(required: bool) -> dict[str, Any]:
    return {
        "description": "RFC 6750 §3 / RFC 9449 §7.1 challenge: the scheme to use, the error.",
        "required": required,
        "schema": {"type": "string"},
    }


NO_STORE = {
    "description": "Personal data or credentials: no cache may keep them (RFC 9111 §5.2.2.5).",
    "required": True,
    "schema": {"type": "string", "const": "no-store"},
}


# --- the allowlist's fields -------------------------------------------------------------------


def _constrain(components: dict[str, Any], name: str, specs: tuple[FieldSpec, ...]) -> None:
    """Add to component ``name`` what the allowlist (``specs``) holds each field to at the
    import door, so stored — hence sent — values meet it; recurse into nested components."""
    properties = components[name]["properties"]
    for spec in specs:
        prop = properties[spec.name]
        if spec.has_children:
            nested = prop["items"] if spec.kind == "list" else prop["anyOf"][0]
            _constrain(components, nested["$ref"].rsplit("/", 1)[1], spec.children)
            required = [child.name for child in spec.children if child.required]
            if required:
                components[nested["$ref"].rsplit("/", 1)[1]]["required"] = required
        text = prop["items"] if spec.kind == "list" else prop
        if spec.max_length:
            text["maxLength"] = spec.max_length
        if spec.pattern:
            text["pattern"] = _ecma(spec.pattern)
        if spec.choices:
            nullable = isinstance(text.get("type"), list) and "null" in text["type"]
            text["enum"] = [*spec.choices, *([None] if nullable else [])]
        if spec.max_items:
            prop["maxItems"] = spec.max_items
        if spec.kind == "decimal":
            prop["pattern"] = DECIMAL
            prop["description"] += "; exact decimal text, e.g. `5500` or `1980.50`"
        if spec.metadata and spec.kind == "datetime":
            prop["pattern"] = INSTANT


# --- parameters -------------------------------------------------------------------------------

_UPDATED_SINCE = (
    "Only the customers whose sync position is at or after this instant (the boundary "
    "included). The position is the gateway's own, one per reseller and customer: it moves "
    "when the customer's shared content changes, when the designation takes effect and when "
    "use resumes — it is not the records' `updated_at`, so do not derive this value from "
    "those. Pass the previous answer's `next_updated_since`, as given. ISO 8601 with an "
    "offset; prefer the `Z` form: a `+` in an offset must be sent percent-encoded, `%2B`."
)


def _query(plugin: MarshmallowPlugin, schema: type[Schema], names: frozenset[str]) -> list[dict]:
    """The query parameters of ``schema``, as a query string can carry them: absent or a
    string, never JSON null; the purpose among the joint-use ones, ``fields`` a comma list of
    field names, ``updated_since`` explained."""
    parameters = plugin.converter.schema2parameters(schema, location="query")  # type: ignore[union-attr]
    name = "|".join(sorted(names))
    for parameter in parameters:
        prop = parameter["schema"]
        if isinstance(prop.get("type"), list):
            prop["type"] = next(t for t in prop["type"] if t != "null")
        if "default" in prop and prop["default"] is None:
            del prop["default"]
        if parameter["name"] == "purpose":
            # Required by the policy (a missing one is refused as purpose_declared), not by
            # the query's parser.
            parameter["required"] = True
            prop["enum"] = sorted(JOINT_USE_PURPOSES)
        elif parameter["name"] == "fields":
            prop["pattern"] = f"^({name})(,({name}))*$"
        elif parameter["name"] == "updated_since":
            parameter["description"] = _UPDATED_SINCE
            parameter["example"] = "2026-12-02T03:04:05.123456Z"
    return parameters


# --- the document -----------------------------------------------------------------------------


def build(issuer: str) -> dict[str, Any]:
    rules = allowlist.current()
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Joint-Use Gateway partner API",
        version=rules.version,
        openapi_version="3.1.0",
        plugins=[plugin],
        info={
            "description": (
                "Resellers designated by a customer, under an NDA with the company, receive "
                "exactly the joint-use items of clause 22 paragraph 3 of the terms (allowlist "
                f"version {rules.version}), for a declared joint-use purpose. Every access is "
                "logged before any data leaves. Every refusal names the `rule` that failed: "
                "RFC 9457 problem details on the partner API, RFC 6749 §5.2 errors at the "
                "OAuth endpoints."
            )
        },
        servers=[{"url": issuer}],
    )
    plugin.map_to_openapi_type(StoredDecimal, "string", None)
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
    spec.components.schema("Customer", schema=rules.output_schema(rules.field_names))
    for name, schema in _error_schemas(issuer).items():
        spec.components.schema(name, schema)
    spec.components.schema("TokenResponse", schema=TokenResponse)
    spec.components.schema(
        "CustomerPage",
        {
            "type": "object",
            "required": ["customers", "next_cursor", "next_updated_since"],
            "properties": {
                "customers": {"type": "array", "items": _ref("Customer")},
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next page; null on the last.",
                },
                "next_updated_since": {
                    "type": "string",
                    "format": "date-time",
                    "pattern": INSTANT,
                    "description": "Pass this as `updated_since` on your next sync. Every "
                    "page of one paging run gives the same value; keep the one from the last "
                    "page you fetched. It lies a little before the run began, so a customer "
                    "may come again in the next sync: apply records by `customer_id`.",
                },
            },
            "additionalProperties": False,
        },
    )
    denials = {
        "400": _problem("Malformed request, undeclared purpose or a field not shared."),
        "401": _problem("No valid token, or it was revoked (RFC 6750 challenge).",
                        **{"WWW-Authenticate": _challenge(True)}),
        "403": _problem("No NDA in force, or fields outside the token's scopes.",
                        **{"WWW-Authenticate": _challenge(False)}),
        "429": _problem("Over the client's rate limit; Retry-After says when to ask again.",
                        **{"Retry-After": RETRY_AFTER}),
        "500": _problem("The gateway could not answer; nothing was disclosed."),
        "503": _problem("The access log cannot be written, or the gateway is not ready; "
                        "nothing was disclosed."),
    }  # fmt: skip
    changed = _problem("The customers' sharing changed while the request was answered: ask again.")
    security = [{"oauth2": list(partner_scopes())}]
    proof = {
        "in": "header", "name": "DPoP", "required": False, "schema": {"type": "string"},
        "description": "A DPoP proof (RFC 9449 §4) for this request; required with a "
                       "DPoP-bound token, and at the token endpoint for a DPoP client.",
    }  # fmt: skip
    private = {"Cache-Control": NO_STORE}
    purposes = sorted(JOINT_USE_PURPOSES)
    spec.path(
        path="/v1/customers",
        operations={
            "get": {
                "summary": "The customers who designated the caller",
                "description": (
                    "Keyset-paginated in sync order. A periodic sync passes the previous "
                    "sync's `next_updated_since` as `updated_since` and follows `next_cursor` "
                    "to the last page."
                ),
                "parameters": [*_query(plugin, CustomerListQuery, rules.field_names), proof],
                "security": security,
                "responses": {
                    "200": {"description": "One page.", "headers": private,
                            "content": {"application/json": {"schema": _ref("CustomerPage")}}},
                    "409": changed,
                    **denials,
                },
                "x-joint-use-purposes": purposes,
            }
        },
    )  # fmt: skip
    customer_id = rules.spec("customer_id")
    spec.path(
        path="/v1/customers/{customer_id}",
        operations={
            "get": {
                "summary": "One customer who designated the caller",
                "parameters": [
                    {"in": "path", "name": "customer_id", "required": True,
                     "schema": {"type": "string", "maxLength": customer_id.max_length,
                                "pattern": _ecma(customer_id.pattern or ".*")}},
                    *_query(plugin, CustomerQuery, rules.field_names),
                    proof,
                ],
                "security": security,
                "responses": {
                    "200": {"description": "The customer.", "headers": private,
                            "content": {"application/json": {"schema": _ref("Customer")}}},
                    "404": _problem("No such customer, not designated or withheld: alike."),
                    "409": changed,
                    **denials,
                },
                "x-joint-use-purposes": purposes,
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
            "additionalProperties": False,
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
                    "application/json": {"schema": _ref("PollRequest")}}},
                "responses": {
                    "200": {"description": "Events not acknowledged yet (keyed by jti: the order "
                                           "means nothing).",
                            "headers": private,
                            "content": {"application/json": {"schema": _ref("PollResponse")}}},
                    **denials,
                    "400": _problem("Malformed poll (RFC 8936 §2.4.4).", "PollProblem"),
                },
            }
        },
    )  # fmt: skip
    _token_endpoints(spec, proof)
    for path, summary, schema in (
        ("/.well-known/oauth-authorization-server", "Authorization server metadata (RFC 8414)",
         "ServerMetadata"),
        ("/oauth/jwks.json", "Public keys that verify access tokens and SETs", "JWKSet"),
    ):  # fmt: skip
        ok = {"200": {"description": "OK",
                      "content": {"application/json": {"schema": _ref(schema)}}}}  # fmt: skip
        spec.path(path=path, operations={"get": {"summary": summary, "responses": ok}})
    document = spec.to_dict()
    schemas = document["components"]["schemas"]
    _constrain(schemas, "Customer", (*rules.definition.always, *rules.fields))
    schemas["Customer"]["required"] = sorted(allowlist.ALWAYS)
    _tidy_poll_request(schemas["PollRequest"])
    return document


def _token_endpoints(spec: APISpec, proof: dict[str, Any]) -> None:
    spec.components.schema("ServerMetadata", _METADATA)
    spec.components.schema("JWKSet", _JWKS)
    spec.components.schema("Introspection", _INTROSPECTION)
    client_auth = {
        "client_assertion_type": {
            "type": "string",
            "const": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        },
        "client_assertion": {"type": "string", "description": "RFC 7523 private_key_jwt."},
        "client_id": {"type": "string"},
    }
    token_form = {
        "grant_type": {"type": "string", "const": "client_credentials"},
        "scope": {"type": "string", "description": "Space-separated; default: all granted."},
    }
    token_ref = {
        "token": {"type": "string"},
        "token_type_hint": {"type": "string", "enum": ["access_token"]},
    }
    for path, summary, ok, form, required in (
        ("/oauth/token", "Client credentials grant (RFC 6749 §4.4)", "TokenResponse",
         token_form, ["grant_type"]),
        ("/oauth/introspect", "Token introspection (RFC 7662)", "Introspection", token_ref,
         ["token"]),
        ("/oauth/revoke", "Token revocation (RFC 7009)", None, token_ref, ["token"]),
    ):  # fmt: skip
        success: dict[str, Any] = {"description": "OK", "headers": {"Cache-Control": NO_STORE}}
        if ok:
            success["content"] = {"application/json": {"schema": _ref(ok)}}
        else:
            del success["headers"]
        body = {"type": "object", "required": required, "properties": form | client_auth}
        spec.path(
            path=path,
            operations={
                "post": {
                    "summary": summary,
                    "description": "The client authenticates with client_secret_basic (an "
                    "Authorization: Basic header) or private_key_jwt (client_assertion).",
                    "parameters": [proof] if path == "/oauth/token" else [],
                    "requestBody": {"required": True, "content": {
                        "application/x-www-form-urlencoded": {"schema": body}}},
                    "responses": {
                        "200": success,
                        "400": _oauth_error("Refused (RFC 6749 §5.2)."),
                        "401": _oauth_error("Client authentication failed."),
                        "429": _oauth_error("Over a rate limit.", **{"Retry-After": RETRY_AFTER}),
                        "500": _oauth_error("The request could not be processed."),
                        "503": _oauth_error("The gateway cannot sign or log now; retry later."),
                    },
                }
            },
        )  # fmt: skip


def _tidy_poll_request(schema: dict[str, Any]) -> None:
    # apispec renders a Length validator on a Dict as maxLength; an object's is maxProperties.
    errors = schema["properties"]["setErrs"]
    if "maxLength" in errors:
        errors["maxProperties"] = errors.pop("maxLength")


_METADATA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 8414 §2, with RFC 9449 §5.1's DPoP algorithms.",
    "required": ["issuer", "token_endpoint", "jwks_uri", "grant_types_supported",
                 "token_endpoint_auth_methods_supported"],
    "properties": {
        **{name: {"type": "string", "format": "uri"} for name in (
            "issuer", "token_endpoint", "jwks_uri", "introspection_endpoint",
            "revocation_endpoint", "service_documentation")},
        **{name: {"type": "array", "items": {"type": "string"}} for name in (
            "grant_types_supported", "response_types_supported", "scopes_supported",
            "token_endpoint_auth_methods_supported",
            "token_endpoint_auth_signing_alg_values_supported",
            "introspection_endpoint_auth_methods_supported",
            "introspection_endpoint_auth_signing_alg_values_supported",
            "revocation_endpoint_auth_methods_supported",
            "revocation_endpoint_auth_signing_alg_values_supported",
            "dpop_signing_alg_values_supported")},
    },
}  # fmt: skip
_JWKS: dict[str, Any] = {
    "type": "object",
    "description": "RFC 7517 §5: public keys only.",
    "required": ["keys"],
    "properties": {
        "keys": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kty", "kid"],
                "properties": {"kty": {"type": "string"}, "kid": {"type": "string"}},
                "not": {"anyOf": [{"required": [member]} for member in ("d", "p", "q", "k")]},
            },
        }
    },
}
_INTROSPECTION: dict[str, Any] = {
    "type": "object",
    "description": "RFC 7662 §2.2; only `active` for a token that is not active.",
    "required": ["active"],
    "properties": {
        "active": {"type": "boolean"},
        "scope": {"type": "string"},
        "client_id": {"type": "string"},
        "token_type": {"type": "string"},
        "exp": {"type": "integer"},
        "iat": {"type": "integer"},
        "sub": {"type": "string"},
        "aud": {"type": "string"},
        "iss": {"type": "string"},
        "jti": {"type": "string"},
        "cnf": {"type": "object", "properties": {"jkt": {"type": "string"}}},
    },
}


@blueprint.get("/openapi.json")
def openapi() -> Response:
    issuer = current_app.extensions["gateway"].config.issuer
    with _lock:
        if issuer not in _built:
            _built[issuer] = build(issuer)
    return jsonify(_built[issuer])
