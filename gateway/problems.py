"""The error catalogue: every ``rule`` a refusal can name to a caller, what it means and what
to do about it.

A refusal over HTTP is an RFC 9457 problem whose ``rule`` names the check that failed and whose
``type`` is ``{issuer}/problems/{rule}`` — a page the gateway serves from this catalogue. The
token, introspection and revocation endpoints answer in RFC 6749 §5.2's shape instead, with
the same ``rule`` beside ``error`` and the page as ``error_uri``. The resellers' guide
(``docs/resellers.md``) lists the same rules; a test holds the two to one list.

Some checks are logged under a finer name than the caller is told (the log is for the
company, the answer for a caller who may be anyone): :data:`PUBLIC_NAMES` maps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from flask import Blueprint, Response, current_app, has_app_context, json
from markupsafe import escape

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Problem:
    rule: str
    means: str  # what failed, in a sentence
    remedy: str  # what the caller does about it


def _catalogue(*problems: Problem) -> dict[str, Problem]:
    return {problem.rule: problem for problem in problems}


CATALOGUE = _catalogue(
    # The caller's token (the partner API).
    Problem("token_present", "No access token was sent.",
            "Send Authorization: DPoP <token> with a DPoP proof (or Bearer <token> for a client "
            "registered without a sender constraint)."),
    Problem("token_authentic", "The access token is not one this gateway issued, or it expired.",
            "Get a new token from the token endpoint; tokens live 5 minutes."),
    Problem("token_not_revoked", "The access token was revoked.", "Get a new token."),
    Problem("token_scope", "The access token has none of the scopes this endpoint needs.",
            "Ask for a token with the endpoint's scope (see /openapi.json)."),
    Problem("token_dpop_scheme", "A DPoP-bound token was sent as a Bearer token.",
            "Send it as Authorization: DPoP <token>, with a DPoP proof."),
    Problem("token_bearer_scheme", "A token that is not DPoP-bound was sent with the DPoP scheme.",
            "Send it as Authorization: Bearer <token>."),
    # DPoP proofs (RFC 9449), on the partner API and at the token endpoint.
    Problem("dpop_proof_present", "No DPoP proof, or more than one, came with the request.",
            "Send one DPoP header, signed by the client's DPoP key, with every request."),
    Problem("dpop_proof_valid",
            "The DPoP proof is not a valid dpop+jwt signed by the public key in its header.",
            "Sign the proof with ES256, PS256 or EdDSA; put the public key (no private members) "
            "in the header's jwk, typ dpop+jwt, and a fresh jti."),
    Problem("dpop_proof_method", "The proof's htm is not this request's HTTP method.",
            "Sign a proof for each request with its own method."),
    Problem("dpop_proof_url", "The proof's htu is not this request's URL.",
            "Use the URL without query or fragment, as the gateway publishes it."),
    Problem("dpop_proof_fresh", "The proof's iat is more than 60 seconds from the gateway's clock.",
            "Sign each proof just before sending it; keep your clock on NTP."),
    Problem("dpop_proof_token", "The proof's ath is not the hash of the access token sent.",
            "Put base64url(SHA-256(access token)) in ath."),
    Problem("dpop_proof_unused", "This DPoP proof was used already.",
            "Sign a new proof, with a new jti, for every request, retries included."),
    Problem("dpop_key_bound", "The proof is signed by another key than the token is bound to.",
            "Sign proofs with the key you used when you got the token."),
    # Who the caller is, judged on every request.
    Problem("client_active", "The client was disabled by the company.",
            "Contact the company; use another registered client if you have one."),
    Problem("partner_active", "The company revoked your access.", "Contact the company."),
    Problem("nda_in_force", "You have no non-disclosure agreement in force today.",
            "Contact the company to record a new or renewed NDA."),
    # What is asked for (the partner API).
    Problem("purpose_declared", "No joint-use purpose, or one the terms do not allow.",
            "Add purpose=inquiry_response (answering the customer) or purpose=service_contact "
            "(necessary contact about the service, and syncing for it)."),
    Problem("fields_allowlisted", "fields= names a field the terms do not share.",
            "Use only the field names of /openapi.json."),
    Problem("fields_in_scope", "fields= names a field outside your token's scopes.",
            "Ask for the scope that covers it, or leave the field out."),
    Problem("customer_available",
            "No customer with this id is available to you: it does not exist, did not designate "
            "you, or is withheld (stop of use, contract ended).",
            "Delete any copy you hold of a customer who is no longer available; the removal "
            "events say why and by when."),
    Problem("customers_unchanged",
            "The customers' sharing changed while the request was answered.",
            "Ask again: the answer will reflect the change."),
    Problem("request_valid", "The request is malformed; the detail says which part.",
            "Fix the request as the detail says; do not retry it unchanged."),
    Problem("resource_exists", "There is nothing at this URL.",
            "Check the path against /openapi.json."),
    Problem("request_size", "The request is larger than the gateway accepts.",
            "Send a smaller request (the detail gives the limit)."),
    Problem("state_unchanged", "The request conflicts with the current state of the resource.",
            "Read the current state; the detail says what conflicts."),
    Problem("subject_known",
            "A privacy-desk request names a reseller or customer the gateway has never seen.",
            "Check the id; the detail suggests the nearest known ones."),
    Problem("method_allowed", "This URL does not answer this HTTP method.",
            "Use a method the Allow header lists."),
    Problem("rate_limited", "Too many requests from this client (or this address) in a minute.",
            "Wait the seconds Retry-After gives, then go on; spread a sync's pages out."),
    # The token endpoint.
    Problem("client_authenticated",
            "The client could not be authenticated: no active client with these credentials.",
            "Check the client id and key or secret the company registered for you."),
    Problem("client_assertion_valid", "The client assertion is not a well-formed signed JWT with "
            "iss and sub both the client id and a jti.",
            "Send a compact JWS whose iss and sub are your client id, with a fresh jti."),
    Problem("client_assertion_signature",
            "The client assertion's signature does not verify with the key it names.",
            "Sign with the private key of a key you registered (ES256, PS256 or EdDSA)."),
    Problem("client_assertion_key",
            "The client assertion's kid names no key registered for this client, or names none "
            "while several are registered.",
            "Put the kid of a registered key in the header; after a rotation, register the new "
            "key before you use it."),
    Problem("client_jwks_available",
            "The key set at the client's registered jwks_uri could not be fetched, or is not a "
            "valid public JWK set; the detail says which.",
            "Serve your public keys at the registered https URL: status 200, JSON, at most "
            "64 KiB, no redirect, within 3 seconds. The gateway tries again at most once a "
            "minute."),
    Problem("client_assertion_audience",
            "The client assertion's aud is not the issuer identifier as a single string.",
            "Set aud to the issuer of /.well-known/oauth-authorization-server, not an endpoint "
            "URL and not an array."),
    Problem("client_assertion_expiry",
            "The client assertion expired, expires more than an hour ahead, or is dated in the "
            "future.", "Set exp a minute or two ahead and iat to now; keep your clock on NTP."),
    Problem("client_assertion_unused", "This client assertion's jti was used already.",
            "Make a new assertion, with a new jti, for every token request."),
    Problem("client_id_consistent",
            "The client_id parameter names another client than the one that authenticated.",
            "Leave client_id out, or send your own."),
    Problem("scope_granted", "The requested scope is more than the client was granted.",
            "Ask only for granted scopes, or none for all of them."),
    Problem("grant_supported", "The grant type is not client_credentials.",
            "Use grant_type=client_credentials."),
    Problem("token_owned", "The token to revoke was issued to another client.",
            "Revoke only your own client's tokens; the other client's token stays valid."),
    # The gateway's own state.
    Problem("internal_error", "The gateway could not answer; nothing was disclosed.",
            "Retry later; if it persists, tell the company the request id."),
    Problem("log_available", "The access log cannot be written, so nothing may be disclosed.",
            "Retry with backoff; the company is alerted."),
    Problem("service_ready", "The gateway is starting or cannot reach its database or keys.",
            "Retry with backoff."),
)  # fmt: skip

# Logged name -> the name the caller is told (they refuse the same request, and telling them
# apart would reveal what the caller may not know: whether a customer exists or designated
# someone else; whether a client id exists).
PUBLIC_NAMES = {
    "customer_designated": "customer_available",
    "customer_in_use": "customer_available",
    "client_known": "client_authenticated",
    "client_secret_valid": "client_authenticated",
}


def public_name(rule: str) -> str:
    return PUBLIC_NAMES.get(rule, rule)


def type_uri(rule: str) -> str:
    """``{issuer}/problems/{rule}``; relative where no application is at hand."""
    base = current_app.extensions["gateway"].config.issuer if has_app_context() else ""
    return f"{base}/problems/{rule}"


def problem(status: int, rule: str, detail: str, **extensions: Any) -> dict[str, Any]:
    """An RFC 9457 body: ``type`` from the rule, ``title`` the status's reason phrase."""
    rule = public_name(rule)
    body = {"type": type_uri(rule), "title": HTTPStatus(status).phrase, "status": status,
            "detail": detail, "rule": rule}  # fmt: skip
    body.update(extensions)
    return body


def problem_response(status: int, rule: str, detail: str, *, headers: dict[str, str] | None = None,
                     **extensions: Any) -> Response:  # fmt: skip
    return Response(json.dumps(problem(status, rule, detail, **extensions)), status=status,
                    mimetype=PROBLEM_JSON, headers=headers)  # fmt: skip


def markdown_table() -> str:
    """The catalogue as the resellers' guide prints it (a test holds the two equal)."""
    rows = ["| rule | what failed | what to do |", "| --- | --- | --- |"]
    rows += [f"| `{p.rule}` | {_md(p.means)} | {_md(p.remedy)} |" for p in CATALOGUE.values()]
    return "\n".join(rows)


def _md(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


blueprint = Blueprint("problems", __name__)


@blueprint.get("/problems/")
def index() -> Response:
    """Every rule, each linking to its page."""
    items = "\n".join(
        f'<li><a href="{escape(rule)}"><code>{escape(rule)}</code></a> — {escape(p.means)}</li>'
        for rule, p in CATALOGUE.items()
    )
    return _html(_INDEX.format(items=items))


@blueprint.get("/problems/<rule>")
def page(rule: str) -> Response:
    """The short page a problem's ``type`` points at (RFC 9457 §3.1.1: a human-readable
    explanation when dereferenced)."""
    known = CATALOGUE.get(rule)
    if known is None:
        return problem_response(404, "resource_exists", "no such rule in the error catalogue")
    return _html(_PAGE.format(rule=escape(known.rule), means=escape(known.means),
                              remedy=escape(known.remedy)))  # fmt: skip


def _html(text: str) -> Response:
    response = Response(text, mimetype="text/html")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{rule} — Joint-Use Gateway</title></head>
<body><h1><code>{rule}</code></h1>
<p><strong>What failed.</strong> {means}</p>
<p><strong>What to do.</strong> {remedy}</p>
<p><a href="./">Every rule</a>; the resellers' guide (docs/resellers.md in the gateway's
repository) explains them in context.</p>
</body></html>
"""

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Error catalogue — Joint-Use Gateway</title>
</head><body><h1>Error catalogue</h1>
<p>Every refusal names one of these rules (<code>rule</code>); its <code>type</code> is the
rule's page.</p>
<ul>
{items}
</ul>
</body></html>
"""
