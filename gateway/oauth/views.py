"""HTTP endpoints of the authorization server: metadata, keys, token, introspection,
revocation. Each is logged: who asked, the outcome and, for a refusal, the check that failed.

The token, introspection and revocation endpoints answer errors in the RFC 6749 §5.2 shape
that OAuth client libraries expect, not problem+json — with the rule that failed beside the
error code, and its page as ``error_uri`` (:func:`gateway.oauth.server.error_body`):
``{"error", "error_description", "rule", "error_uri"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from gateway.audit.group_commit import FAILED_RULE
from gateway.audit.spine import Actor, ActorKind, Event, Outcome, Subject
from gateway.errors import AuditUnavailable
from gateway.keystore import KeystoreError
from gateway.oauth import dpop
from gateway.oauth.clients import partner_scopes
from gateway.oauth.keys import SigningKeys
from gateway.oauth.models import CLIENT_SECRET_BASIC, PRIVATE_KEY_JWT
from gateway.oauth.reseller_keys import ResellerKeys
from gateway.oauth.resource import UNAUTHENTICATED, TokenVerifier
from gateway.oauth.server import (
    ASSERTION_ALGORITHMS,
    Endpoints,
    TokenRequest,
    build_server,
    claimed_client_id,
    commit_writes,
    error_body,
)
from gateway.ratelimit.service import RULE as RATE_LIMIT_RULE
from gateway.ratelimit.service import RateLimits, Refusal
from gateway.runtime import Runtime

blueprint = Blueprint("oauth", __name__)


@dataclass
class OAuth:
    endpoints: Endpoints
    keys: SigningKeys
    server: Any
    verifier: TokenVerifier
    reseller_keys: ResellerKeys  # the key sets resellers publish, as this process keeps them


def init_app(app: Flask, runtime: Runtime) -> None:
    endpoints = Endpoints(runtime.config.issuer)
    keys = SigningKeys(runtime.config.keys_dir)
    try:
        keys.require_ready()
    except KeystoreError as error:
        # Not fatal at start (health checks still answer); the token endpoint refuses and
        # /readyz reports not ready until keys exist.
        app.logger.warning("token signing unavailable: %s", error.detail)
    reseller_keys = ResellerKeys()
    server = build_server(app, endpoints, keys, runtime.config.token_lifetime, reseller_keys)
    app.extensions["oauth"] = OAuth(
        endpoints, keys, server, TokenVerifier(keys, endpoints), reseller_keys
    )
    app.register_blueprint(blueprint)


def _oauth() -> OAuth:
    return current_app.extensions["oauth"]


@blueprint.get("/.well-known/oauth-authorization-server")
def metadata() -> Response:
    """RFC 8414 §2 authorization server metadata."""
    e = _oauth().endpoints
    auth_methods = [PRIVATE_KEY_JWT, CLIENT_SECRET_BASIC]
    return jsonify(
        {
            "issuer": e.issuer,
            "token_endpoint": e.token,
            "jwks_uri": e.jwks,
            "introspection_endpoint": e.introspection,
            "revocation_endpoint": e.revocation,
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": [],
            "scopes_supported": list(partner_scopes()),
            "token_endpoint_auth_methods_supported": auth_methods,
            "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "introspection_endpoint_auth_methods_supported": auth_methods,
            "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "service_documentation": f"{e.issuer}/openapi.json",
            "dpop_signing_alg_values_supported": list(dpop.ALGORITHMS),  # RFC 9449 §5.1
        }
    )


@blueprint.get("/oauth/jwks.json")
def jwks() -> Response:
    """The public keys that verify access tokens (RFC 8414 ``jwks_uri``)."""
    runtime = current_app.extensions["gateway"]
    try:
        keys = _oauth().keys.published(int(runtime.clock.now().timestamp()))
    except KeystoreError:
        keys = []
    response = jsonify({"keys": keys})
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blueprint.post("/oauth/token")
def token() -> Response:
    return _logged("token.issue", lambda server: server.create_token_response())


@blueprint.post("/oauth/introspect")
def introspect() -> Response:
    return _logged(
        "token.introspect", lambda server: server.create_endpoint_response("introspection")
    )


@blueprint.post("/oauth/revoke")
def revoke() -> Response:
    return _logged("token.revoke", lambda server: server.create_endpoint_response("revocation"))


def _logged(action: str, respond) -> Response:  # type: ignore[no-untyped-def]
    """Answer one authorization-server endpoint from a read snapshot, then log its outcome —
    and make its writes — in the log's group commit; nothing is answered until that commit
    (see :func:`gateway.oauth.server.commit_writes`).

    Rate limits come first, before any slow hash: an address with too many failed
    authentications, or a client that was issued too many tokens, is answered 429; a failed
    authentication then counts against the address, a token issued against its client."""
    limits: RateLimits = current_app.extensions["rate_limits"]
    address = request.remote_addr or "unknown"
    limited, counted = limits.failures_allowed(address), "address"
    claimed = claimed_client_id(request) if action == "token.issue" else None
    if limited is None and claimed is not None:
        limited, counted = limits.token_allowed(claimed), "client"
    if limited is not None:
        return _rate_limited(action, limited, counted, address, claimed)
    answer, issued_to = _answered(action, respond)
    if _error_code(answer) == "invalid_client":
        limits.failed(address)
    if issued_to is not None:
        limits.token_issued(issued_to)
    return answer


def _answered(action: str, respond) -> tuple[Response, str | None]:  # type: ignore[no-untyped-def]
    """The endpoint's answer, once logged, and the client a token was issued to."""
    runtime = current_app.extensions["gateway"]
    try:
        with runtime.reading() as session:
            context = TokenRequest(session, runtime.clock)
            response = _respond(context, respond)
            event = _event(action, context, response.status_code == 200)
        refused = current_app.extensions["group_commit"].write(
            [event], recheck=commit_writes(context, event)
        )
    except (AuditUnavailable, SQLAlchemyError):
        current_app.logger.exception("access log unavailable; token endpoint refused")
        answer = _oauth_error(503, "temporarily_unavailable", "the access log cannot be written",
                              "log_available")  # fmt: skip
        return answer, None
    if refused is not None:
        return _refused(refused), None
    return response, (context.client_id if context.issued else None)


def _refused(refused: Event) -> Response:
    """The answer to a request refused at its commit."""
    rule = refused.rule or FAILED_RULE
    if rule == FAILED_RULE:  # its own writes could not be committed
        return _oauth_error(500, "server_error", "the request could not be processed", rule)
    if rule.startswith("dpop_"):  # its proof was used by another request first
        return _oauth_error(400, "invalid_dpop_proof", dpop.PROOF_UNUSED.detail, rule)
    # The client changed, or its assertion was used, while the request was answered.
    if rule == "nda_in_force":
        return _oauth_error(400, "unauthorized_client", "the partner has no NDA in force", rule)
    # RFC 6749 §5.2: 401 for credentials sent in the Authorization header, else 400.
    status = 401 if "Authorization" in request.headers else 400
    if rule == "client_assertion_unused":
        return _oauth_error(status, "invalid_client",
                            "this client assertion was used already: make a new one, with a "
                            "new jti, for every request", rule)  # fmt: skip
    return _oauth_error(status, "invalid_client", "client authentication failed", rule)


def _rate_limited(action: str, limited: Refusal, counted: str, address: str,
                  client_id: str | None) -> Response:  # fmt: skip
    """429 in the RFC 6749 §5.2 shape, with ``Retry-After``; the first refusal of the minute
    for this address or client is logged, with the count of the minute before."""
    if limited.logged:
        details = limited.details(counted) | ({"source": address} if counted == "address" else {})
        actor = Actor(ActorKind.CLIENT, client_id if counted == "client" else UNAUTHENTICATED)
        subjects = (Subject("client", client_id),) if counted == "client" and client_id else ()
        event = Event(
            action=action,
            actor=actor,
            outcome=Outcome.DENIED,
            rule=RATE_LIMIT_RULE,
            subjects=subjects,
            request_id=g.get("request_id"),
            details=details,
        )
        try:
            current_app.extensions["group_commit"].write([event])
        except (AuditUnavailable, SQLAlchemyError):
            current_app.logger.exception("access log unavailable; rate-limit refusal unlogged")
    response = _oauth_error(
        429,
        "rate_limited",
        f"too many requests; retry after {limited.retry_after} s",
        RATE_LIMIT_RULE,
    )
    response.headers["Retry-After"] = str(limited.retry_after)
    return response


def _respond(context: TokenRequest, respond) -> Response:  # type: ignore[no-untyped-def]
    g.token_request = context
    try:
        return respond(_oauth().server)
    except KeystoreError:
        current_app.logger.error("token requested but no signing key is available")
        context.refuse("service_ready")
        return _oauth_error(503, "temporarily_unavailable", "signing key unavailable",
                            "service_ready")  # fmt: skip
    except Exception:  # noqa: BLE001 - answered and logged as a refusal, never a traceback
        current_app.logger.exception("authorization-server request failed")
        context.refuse(FAILED_RULE)
        return _oauth_error(500, "server_error", "the request could not be processed",
                            FAILED_RULE)  # fmt: skip


def _event(action: str, context: TokenRequest, allowed: bool) -> Event:
    subjects: tuple[Subject, ...] = ()
    if context.client_id is not None:
        subjects = (Subject("partner", context.partner_id), Subject("client", context.client_id))
    details: dict[str, str | int | bool | None] = {}
    if allowed and context.issued:
        details = {"scope": context.issued["scope"], "expires_at": context.issued["exp"]}
    rule = None
    if not allowed:
        details = dict(context.details)
        rule = context.rule or FAILED_RULE  # every refusal of the server names its rule
    return Event(
        action=action,
        actor=Actor(ActorKind.CLIENT, context.client_id or UNAUTHENTICATED),
        outcome=Outcome.ALLOWED if allowed else Outcome.DENIED,
        rule=rule,
        subjects=subjects,
        request_id=g.get("request_id"),
        details=details,
    )


def _error_code(response: Response) -> str:
    if response.status_code < 400:
        return ""
    try:
        code = json.loads(response.get_data(as_text=True)).get("error", "error")
    except (ValueError, AttributeError):
        code = "error"
    return code if isinstance(code, str) and code.replace("_", "").isalnum() else "error"


def _oauth_error(status: int, error: str, description: str, rule: str) -> Response:
    response = jsonify(error_body(rule, error, description))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
