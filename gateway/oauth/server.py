"""The authorization server, assembled from Authlib's classes.

What Authlib provides is used as is — the token endpoint and its client-credentials grant
(RFC 6749 §4.4), client assertions (RFC 7523), JWT access tokens (RFC 9068), introspection
(RFC 7662) and revocation (RFC 7009). What is written here is only what they leave to the
application: where clients, keys and tokens live, the live checks a reseller must pass
(client active, partner active, NDA in force), replay protection of assertion ids, a
constant-time secret check, a refusal of scopes beyond the client's grant, the choice of a
reseller's key by the assertion's ``kid`` (its keys registered, or published at its
``jwks_uri``: :mod:`gateway.oauth.reseller_keys`), and errors that name the rule that failed.

Every error of these endpoints keeps RFC 6749 §5.2's shape and adds the rule that failed —
``{"error", "error_description", "rule", "error_uri"}``, ``error_uri`` being the rule's page
(:func:`gateway.problems.type_uri`). The log keeps the finer name (:data:`TOKEN_RULES`); the
caller is told the name :func:`told` gives it: whether a client id exists, is disabled or
belongs to a revoked partner, and whether a secret was wrong, are one answer
(``client_authenticated``).

Each request to the token, introspection and revocation endpoints is answered from a read
snapshot; what it changes — an assertion id used up, a token's row, a revocation — is
recorded in its ``TokenRequest`` and written by the commit that logs it
(:func:`commit_writes`, run in the log's group commit under the head lock), which judges the
client again first. Nothing is returned before that commit.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Flask, g
from flask import request as http_request
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyCurveError, JoseError, KeyParameterError
from joserfc.jwk import Key, KeySet
from joserfc.jws import extract_compact
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from gateway.audit.group_commit import FAILED_RULE, Recheck
from gateway.audit.spine import Event, Outcome
from gateway.clock import Clock, today
from gateway.db import Prepared, RawTransaction
from gateway.oauth import dpop
from gateway.oauth.keys import ALGORITHM, SigningKeys
from gateway.oauth.live_state import client_facts, live_facts
from gateway.oauth.models import (
    ACTIVE,
    CLIENT_SECRET_BASIC,
    DPOP,
    PRIVATE_KEY_JWT,
    AccessToken,
    OAuthClient,
    UsedAssertion,
)
from gateway.oauth.reseller_keys import ASSERTION_ALGORITHMS, KeySetUnavailable, ResellerKeys
from gateway.oauth.secrets import verify_secret
from gateway.partners.models import ACTIVE as PARTNER_ACTIVE
from gateway.partners.models import Partner
from gateway.policy import decide
from gateway.problems import public_name, type_uri

ASSERTION_LEEWAY = 60
# An assertion expires at most this long after it is presented (FAPI 2.0 §5.3.2.1 lets the
# server bound it; a far ``exp`` would also keep its id in the replay table for ever).
ASSERTION_MAX_LIFETIME = 3600
# draft-ietf-oauth-rfc7523bis: an explicit type keeps other JWTs from being taken for one.
ASSERTION_TYPES = ("client-authentication+jwt", "application/client-authentication+jwt")
# Longer than any assertion a reseller's library makes (an RSA-4096 signature is 683
# characters); refused before any parsing.
MAX_ASSERTION_LENGTH = 8192
# The form of the client ids this gateway issues (``cl_`` and 16 URL-safe characters).
CLIENT_ID = re.compile(r"cl_[A-Za-z0-9_-]{16}")
# Expired assertion ids are purged by about one issuance in this many.
_PURGE_ONE_IN = 64

# Every rule the token, introspection and revocation endpoints refuse a request with, by the
# name the log keeps; the caller is told ``told(rule)``, a rule of the error catalogue
# (gateway.problems) — a test holds the two together.
TOKEN_RULES = (
    # Who the caller is (RFC 6749 §2.3): told client_authenticated, whichever failed.
    "client_known", "client_secret_valid", "client_auth_method", "client_active",
    "partner_active", "client_authenticated",
    # Its client assertion (RFC 7523 §3), in the order they are checked: the form, the key
    # its kid names, the signature — and only then the claims.
    "client_assertion_valid", "client_assertion_key", "client_jwks_available",
    "client_assertion_signature", "client_assertion_audience", "client_assertion_expiry",
    "client_assertion_unused", "client_id_consistent",
    # What it asks for.
    "request_valid", "grant_supported", "scope_granted", "nda_in_force", "token_owned",
    # Its DPoP proof (RFC 9449 §5), when it sends one or must.
    *(rule.name for rule in (dpop.PROOF_PRESENT, dpop.PROOF_VALID, dpop.PROOF_METHOD,
                             dpop.PROOF_URL, dpop.PROOF_FRESH, dpop.PROOF_UNUSED)),
    # The gateway's own state.
    "rate_limited", "service_ready", "log_available", FAILED_RULE,
)  # fmt: skip
# Refused before the caller authenticated, so it may be anyone: one answer for all of them.
_UNAUTHENTICATED = frozenset(
    {"client_known", "client_secret_valid", "client_auth_method", "client_active",
     "partner_active"}
)  # fmt: skip
# An error Authlib raises itself, where no check of ours named a rule first.
_AUTHLIB_RULES = {
    "invalid_client": "client_authenticated",
    "invalid_request": "request_valid",
    "unsupported_grant_type": "grant_supported",
    "unauthorized_client": "grant_supported",
    "invalid_scope": "scope_granted",
    "invalid_grant": "token_owned",  # RFC 7009 §2.1: another client's token
    "unsupported_token_type": "request_valid",
}
# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
_NOT_DESCRIPTION = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
_MAX_DESCRIPTION = 300


def told(rule: str) -> str:
    """The rule a caller is told, for the rule the log keeps."""
    return "client_authenticated" if rule in _UNAUTHENTICATED else public_name(rule)


def error_body(rule: str, error: str, description: str) -> dict[str, str]:
    """An error of the token, introspection or revocation endpoint: RFC 6749 §5.2's members,
    the rule the caller is told and its page as ``error_uri`` (§5.2). The description is the
    gateway's, bounded, in §5.2's characters; a refused client's is always the same."""
    rule = told(rule)
    if rule == "client_authenticated":
        description = "client authentication failed"
    elif rule == "grant_supported":  # Authlib's repeats the grant_type sent
        description = "grant_type must be client_credentials"
    description = _NOT_DESCRIPTION.sub("?", description)[:_MAX_DESCRIPTION]
    return {"error": error, "error_description": description, "rule": rule,
            "error_uri": type_uri(rule)}  # fmt: skip


@dataclass(frozen=True)
class Endpoints:
    """The authorization server's URLs, all under the issuer (RFC 8414 §2)."""

    issuer: str

    @property
    def token(self) -> str:
        return f"{self.issuer}/oauth/token"

    @property
    def introspection(self) -> str:
        return f"{self.issuer}/oauth/introspect"

    @property
    def revocation(self) -> str:
        return f"{self.issuer}/oauth/revoke"

    @property
    def jwks(self) -> str:
        return f"{self.issuer}/oauth/jwks.json"

    @property
    def api_audience(self) -> str:
        """The ``aud`` of every access token: the partner API (RFC 9068 §3)."""
        return f"{self.issuer}/v1"


@dataclass
class TokenRequest:
    """What one request to an authorization-server endpoint learns on its way; read by the
    view to write the log entry."""

    session: Session
    clock: Clock
    rule: str | None = None  # the first check that failed, named for the log
    details: dict[str, str] = field(default_factory=dict)  # for the log, with a refusal
    client_id: str | None = None
    partner_id: str | None = None
    issued: dict[str, Any] = field(default_factory=dict)  # claims of the token issued
    # A client assertion's id once its signature held: used up even if the request then
    # fails, so a refused assertion cannot be replayed (RFC 7523 §3 item 7).
    assertion: tuple[str, str, int] | None = None
    # The DPoP proof the token is bound to (RFC 9449 §5); used up like an assertion id.
    proof: dpop.Proof | None = None
    # Written by the commit that logs the request (see ``commit_writes``):
    token_row: dict[str, Any] | None = None  # the access token issued
    revoke_jti: str | None = None  # the access token revoked

    def refuse(self, rule: str) -> None:
        if self.rule is None:
            self.rule = rule


def current() -> TokenRequest:
    return g.token_request


class Client(ClientMixin):
    """An active client of an active partner, as Authlib sees it."""

    def __init__(self, row: OAuthClient, partner: Partner) -> None:
        self.row = row
        self.partner = partner
        self.scopes = tuple(row.scopes.split())

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_allowed_scope(self, scope: str | None) -> str:
        # Requested scopes were checked against the grant already; none requested means all.
        return scope or self.row.scopes

    def check_client_secret(self, client_secret: str) -> bool:
        return verify_secret(client_secret, self.row.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.row.auth_method

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_response_type(self, response_type: str) -> bool:
        return False

    def get_default_redirect_uri(self) -> None:
        return None


class IssuedToken(TokenMixin):
    """An issued access token's row, for introspection and revocation."""

    def __init__(self, row: AccessToken, *, live: bool, jkt: str | None = None):
        self.row = row
        self.live = live  # client active, partner active, NDA in force — now
        self.jkt = jkt  # the DPoP key it is bound to, if any

    def check_client(self, client: Client) -> bool:
        return client.get_client_id() == self.row.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return self.row.expires_at - self.row.issued_at

    def is_expired(self) -> bool:
        return self.row.expires_at <= int(current().clock.now().timestamp())

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or not self.live


def query_client(client_id: str) -> Client | None:
    """Only an active client of an active partner authenticates (``invalid_client``
    otherwise, RFC 6749 §5.2)."""
    request = current()
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        request.refuse("client_known")  # not an id this gateway issues: never queried
        return None
    row = request.session.get(OAuthClient, client_id)
    if row is None:
        request.refuse("client_known")
        return None
    request.client_id, request.partner_id = row.client_id, row.partner_id
    if row.status != ACTIVE:
        request.refuse("client_active")
        return None
    partner = request.session.get(Partner, row.partner_id)
    if partner is None or partner.status != PARTNER_ACTIVE:
        request.refuse("partner_active")
        return None
    return Client(row, partner)


def claimed_client_id(http_request) -> str | None:  # type: ignore[no-untyped-def]
    """The client a token request claims to be — unverified: the Basic user, or the ``sub``
    of the client assertion — for a rate limit that only *tests* it before the slow checks
    (only tokens actually issued count against a client)."""
    try:
        claimed, _ = extract_basic_authorization(http_request.headers)
        if claimed is None and http_request.form.get("client_assertion"):
            payload = extract_compact(http_request.form["client_assertion"].encode()).payload
            claimed = json.loads(payload).get("sub")
    except (JoseError, ValueError, TypeError, AttributeError, UnicodeError):
        return None
    return claimed if isinstance(claimed, str) and CLIENT_ID.fullmatch(claimed) else None


def authenticate_client_secret_basic(query, oauth_request) -> Client | None:  # type: ignore[no-untyped-def]
    """HTTP Basic client authentication (RFC 6749 §2.3.1), checking a hash even for an
    unknown client so that timing reveals nothing."""
    try:
        client_id, secret = extract_basic_authorization(oauth_request.headers)
    except ValueError:  # undecodable credentials (e.g. not UTF-8)
        raise InvalidClientError(
            status_code=401, description="client authentication failed"
        ) from None
    if not client_id or secret is None:
        return None
    client = query(client_id)
    # The slow hash runs in the request's read snapshot, under no lock (the log's lock is
    # taken only by the commit that logs the request).
    matches = verify_secret(secret, client.row.secret_hash if client else None)
    if matches and client is not None:
        _require_consistent_client_id(oauth_request, client)
        return client
    if client is not None:
        current().refuse("client_secret_valid")
    raise InvalidClientError(status_code=401, description="client authentication failed")


def _refusal(rule: str, description: str) -> InvalidClientError:
    """A failed client authentication, its rule noted for the log and the answer."""
    current().refuse(rule)
    return InvalidClientError(description=description)


class PrivateKeyJWT(JWTBearerClientAssertion):
    """``private_key_jwt`` client authentication (RFC 7523 §2.2, §3), held to FAPI 2.0
    (§5.3.2.1): the audience is the issuer identifier alone, as a string (an array or an
    endpoint URL opens the audience-injection attacks of CVE-2025-27370/27371)."""

    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __init__(self, endpoints: Endpoints, published: ResellerKeys) -> None:
        super().__init__(validate_jti=True, leeway=ASSERTION_LEEWAY)
        self.endpoints = endpoints
        self.published = published

    def __call__(self, query, oauth_request):  # type: ignore[no-untyped-def]
        request = current()
        assertion = oauth_request.form.get("client_assertion")
        if isinstance(assertion, str) and len(assertion) > MAX_ASSERTION_LENGTH:
            raise _refusal(
                "client_assertion_valid",
                f"the client assertion is longer than {MAX_ASSERTION_LENGTH} characters",
            )
        try:
            client = super().__call__(query, oauth_request)
        except InvalidClientError:
            # Authlib's own checks of the form (before the client is known) name no rule;
            # any finer rule named first (client_known, …) stays the one logged.
            request.refuse("client_assertion_valid")
            raise
        if client is not None:
            _require_consistent_client_id(oauth_request, client)
        return client

    def get_audiences(self) -> list[str]:
        return [self.endpoints.issuer]

    def resolve_client_public_key(self, client: Client) -> ClientKeys:
        if client.row.auth_method != PRIVATE_KEY_JWT:  # a secret client: no key verifies
            raise _refusal("client_auth_method", "client authentication failed")
        return ClientKeys(client.row, self.published, current())

    def process_assertion_claims(self, assertion, resolve_key):  # type: ignore[no-untyped-def]
        """RFC 7523 §3, as a checklist: (1) a JWS of an accepted algorithm and type, (2) the
        registered key its ``kid`` names, (3) its signature by that key, and only then (4)
        its claims — nothing about them is told to a caller who could not sign."""
        keys: ClientKeys = resolve_key
        # (1) The form.
        try:
            header = extract_compact(assertion.encode()).headers()
        except (JoseError, ValueError, TypeError, UnicodeError):
            raise _refusal(
                "client_assertion_valid", "the client assertion is not a compact JWS"
            ) from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ASSERTION_ALGORITHMS:
            raise _refusal(
                "client_assertion_valid",
                "the client assertion's alg must be one of " + ", ".join(ASSERTION_ALGORITHMS),
            )
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in ASSERTION_TYPES):
            raise _refusal(
                "client_assertion_valid",
                "the client assertion's typ must be client-authentication+jwt",
            )
        # (2) The key.
        key = keys.named(header.get("kid"))
        # (3) The signature, by that key alone.
        try:
            token = jwt.decode(assertion, key, algorithms=[alg])
        except BadSignatureError:
            raise _refusal(
                "client_assertion_signature",
                "the client assertion's signature does not verify with the key its kid names",
            ) from None
        except (KeyParameterError, InvalidKeyCurveError):
            raise _refusal(
                "client_assertion_signature",
                f"the key the client assertion's kid names is not for {alg}",
            ) from None
        except (JoseError, ValueError, TypeError):
            raise _refusal(
                "client_assertion_valid", "the client assertion's payload is not a JSON object"
            ) from None
        # (4) The claims.
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: dict[str, Any]) -> None:  # type: ignore[override]
        """RFC 7523 §3 with FAPI 2.0's tightening; each failure names its rule."""
        request = current()
        now = int(request.clock.now().timestamp())

        if claims.get("iss") != claims.get("sub"):
            raise _refusal("client_assertion_valid", "iss and sub must both be the client id")
        if claims.get("aud") != self.endpoints.issuer:  # a string, equal: no array, no URL
            raise _refusal(
                "client_assertion_audience",
                f"aud must be the issuer identifier as a string: {self.endpoints.issuer}",
            )
        exp = claims.get("exp")
        if not _instant(exp):
            raise _refusal("client_assertion_expiry", "exp must be a NumericDate")
        if exp <= now - self.leeway:
            raise _refusal("client_assertion_expiry", "the client assertion has expired")
        if exp > now + ASSERTION_MAX_LIFETIME + self.leeway:
            raise _refusal("client_assertion_expiry", "exp must be at most one hour ahead")
        for name in ("iat", "nbf"):
            if name in claims and not (_instant(claims[name])
                                       and claims[name] <= now + self.leeway):  # fmt: skip
                raise _refusal("client_assertion_expiry", f"{name} must not be in the future")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= 200:
            raise _refusal("client_assertion_valid", "jti must be a string of 1 to 200 characters")
        if not self.validate_jti(claims, jti):
            raise _refusal(
                "client_assertion_unused",
                "this client assertion was used already: make a new one, with a new "
                "jti, for every request",
            )

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        """A ``jti`` may be used once (RFC 7523 §3 item 7): refused here when the snapshot
        shows it used; otherwise used up by the commit that logs this request, which refuses
        the request if another one, on any node, used it first (:func:`commit_writes`)."""
        request = current()
        # Kept until it could no longer be presented; ``exp`` is bounded above already.
        request.assertion = (claims["sub"], jti, math.ceil(claims["exp"]) + ASSERTION_LEEWAY)
        key = {"client_id": claims["sub"], "jti": jti}
        return _ASSERTION_USED.one_or_none(request.session, key) is None


@dataclass
class ClientKeys:
    """A client's registered public keys, and the one an assertion's ``kid`` names (RFC 7515
    §4.1.4): a ``kid`` is needed when there are several, optional when there is one. Keys
    published at a ``jwks_uri`` are fetched on demand; a ``kid`` they lack fetches them
    again (the reseller may have rotated), at most once a minute
    (:class:`gateway.oauth.reseller_keys.ResellerKeys`)."""

    row: OAuthClient
    published: ResellerKeys
    request: TokenRequest

    def named(self, kid: Any) -> Key:
        if kid is not None and not isinstance(kid, str):
            raise _refusal("client_assertion_key", "the client assertion's kid must be a string")
        key = _by_kid(self._keys(refresh=False), kid)
        if key is None and kid is not None and self.row.jwks_uri:
            key = _by_kid(self._keys(refresh=True), kid)
        if key is None and kid is None:
            raise _refusal(
                "client_assertion_key",
                "the client has several keys: name the one that signed the client "
                "assertion by its kid",
            )
        if key is None:
            raise _refusal(
                "client_assertion_key",
                "the client assertion's kid names no key registered for this client",
            )
        return key

    def _keys(self, *, refresh: bool) -> KeySet:
        if self.row.jwks_uri is None:
            if not self.row.jwks:
                raise _refusal("client_assertion_key", "no key is registered for this client")
            return KeySet.import_key_set(json.loads(self.row.jwks))
        now = self.request.clock.now().timestamp()
        try:
            return self.published.key_set(
                self.row.client_id, self.row.jwks_uri, now, refresh=refresh
            )
        except KeySetUnavailable as failure:
            self.request.details["jwks_uri"] = failure.reason
            raise _refusal(
                "client_jwks_available",
                "the client's key set could not be fetched from its registered "
                f"jwks_uri: {failure.explained}",
            ) from None


def _by_kid(keys: KeySet, kid: str | None) -> Key | None:
    if kid is None:
        return keys.keys[0] if len(keys.keys) == 1 else None
    return next((key for key in keys if key.kid == kid), None)


def _instant(value: Any) -> bool:
    """A JSON number that is a usable NumericDate (RFC 7519 §2): not a boolean, finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _require_consistent_client_id(oauth_request, client: Client) -> None:  # type: ignore[no-untyped-def]
    """A ``client_id`` form parameter, when sent, must name the client that authenticated
    (RFC 6749 §2.3: one client, one authentication) — never silently ignored."""
    named = oauth_request.form.get("client_id")
    if named is not None and named != client.get_client_id():
        current().refuse("client_id_consistent")
        raise InvalidClientError(
            status_code=401 if "Authorization" in oauth_request.headers else 400,
            description="client_id does not name the authenticated client",
        )


class InvalidDPoPProofError(OAuth2Error):
    """RFC 9449 §5: the token request's DPoP proof is missing or not valid."""

    error = "invalid_dpop_proof"
    status_code = 400


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 §4.4, for a reseller's confidential client, with more checks: the requested
    scopes must be within the client's grant (refused, not trimmed), the partner must have an
    NDA in force today (clause 22 paragraph 3), and a client bound to DPoP must send a proof
    (RFC 9449 §5), whose key the token is then bound to."""

    TOKEN_ENDPOINT_AUTH_METHODS = [PRIVATE_KEY_JWT, CLIENT_SECRET_BASIC]

    def __init__(self, request, server) -> None:  # type: ignore[no-untyped-def]
        super().__init__(request, server)
        self.endpoints: Endpoints = server.endpoints

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client: Client = self.request.client
        request = current()
        if client.partner.nda_in_force(today(request.clock)) is None:
            request.refuse("nda_in_force")
            raise UnauthorizedClientError(description="the partner has no NDA in force today")
        self.validate_dpop_proof(client, request)

    def validate_dpop_proof(self, client: Client, request: TokenRequest) -> None:
        """A proof, when sent, binds the token to its key — whatever the client's constraint
        (binding is never weaker); a client registered as ``dpop`` must send one."""
        values = http_request.headers.getlist("DPoP")
        if not values and client.row.sender_constraint != DPOP:
            return
        try:
            request.proof = dpop.verify(
                values, method="POST", url=self.endpoints.token,
                now=int(request.clock.now().timestamp()),
            )  # fmt: skip
        except dpop.ProofRefused as refused:
            request.refuse(refused.rule.name)
            raise InvalidDPoPProofError(description=refused.rule.detail) from None

    def validate_requested_scope(self) -> None:
        requested = set(scope_to_list(self.request.payload.scope) or [])
        client: Client = self.request.client
        if not requested <= set(client.scopes):
            current().refuse("scope_granted")
            raise InvalidScopeError(description="the requested scope exceeds the client's grant")


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """RFC 9068 access tokens signed with the current key, with its ``kid``, on the
    gateway's clock."""

    def __init__(self, endpoints: Endpoints, keys: SigningKeys, lifetime: int) -> None:
        super().__init__(issuer=endpoints.issuer, alg=ALGORITHM, expires_generator=lifetime)
        self.endpoints = endpoints
        self.keys = keys
        self.lifetime = lifetime

    def get_audiences(self, client, user, scope) -> str:  # type: ignore[no-untyped-def]
        return self.endpoints.api_audience

    def generate(self, grant_type, client, *args, **kwargs):  # type: ignore[no-untyped-def]
        token = super().generate(grant_type, client, *args, **kwargs)
        if current().proof is not None:
            token["token_type"] = "DPoP"  # noqa: S105 - RFC 9449 §5, a scheme name
        return token

    def access_token_generator(self, client, grant_type, user, scope):  # type: ignore[no-untyped-def]
        request = current()
        now = int(request.clock.now().timestamp())
        claims = {
            "iss": self.issuer,
            "sub": client.get_client_id(),
            "aud": self.get_audiences(client, user, scope),
            "client_id": client.get_client_id(),
            "scope": scope,
            "jti": generate_token(32),
            "iat": now,
            "exp": now + self.lifetime,
        }
        if request.proof is not None:
            claims["cnf"] = {"jkt": request.proof.jkt}  # RFC 9449 §6.1
        kid, key = self.keys.current()
        request.issued = claims
        return jwt.encode({"alg": ALGORITHM, "typ": "at+jwt", "kid": kid}, claims, key)


def _token_row(token_string: str, keys: SigningKeys, endpoints: Endpoints) -> IssuedToken | None:
    """Find the row of one of our access tokens, by its verified ``jti``."""
    request = current()
    now = int(request.clock.now().timestamp())
    try:
        decoded = jwt.decode(token_string, keys.verification_keys(now), algorithms=[ALGORITHM])
    except (JoseError, ValueError):
        return None
    if decoded.claims.get("iss") != endpoints.issuer:
        return None
    row = request.session.get(AccessToken, decoded.claims.get("jti"))
    if row is None:
        return None
    facts = live_facts(request.session, row.jti, row.client_id, request.clock).facts
    return IssuedToken(row, live=decide(facts).allowed, jkt=dpop.jkt_of(decoded.claims))


class _SearchesEveryType:
    """A ``token_type_hint`` is only a hint: a token is looked for whatever it says
    (RFC 7662 §2.1, RFC 7009 §2.1), so no hint is ever answered ``unsupported_token_type``."""

    def check_params(self, request, client) -> None:  # type: ignore[no-untyped-def]
        if not request.form.get("token"):
            raise InvalidRequestError(description="the token parameter is required")


class TokenIntrospection(_SearchesEveryType, IntrospectionEndpoint):
    """RFC 7662, for a client's own tokens: any other token is simply inactive (§2.2)."""

    CLIENT_AUTH_METHODS = [PRIVATE_KEY_JWT, CLIENT_SECRET_BASIC]
    SUPPORTED_TOKEN_TYPES = ("access_token",)

    def __init__(self, endpoints: Endpoints, keys: SigningKeys) -> None:
        super().__init__()
        self.endpoints = endpoints
        self.keys = keys

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return _token_row(token_string, self.keys, self.endpoints)

    def check_permission(self, token: IssuedToken, client: Client, request) -> bool:  # type: ignore[no-untyped-def]
        return token.check_client(client)

    def introspect_token(self, token: IssuedToken) -> dict[str, Any]:
        row = token.row
        bound = {"token_type": "DPoP", "cnf": {"jkt": token.jkt}} if token.jkt else {}
        return {
            "active": True,
            "token_type": "Bearer",
            **bound,  # RFC 9449 §6.2
            "client_id": row.client_id,
            "sub": row.client_id,
            "scope": row.scope,
            "iss": self.endpoints.issuer,
            "aud": self.endpoints.api_audience,
            "iat": row.issued_at,
            "exp": row.expires_at,
            "jti": row.jti,
        }


class TokenRevocation(_SearchesEveryType, RevocationEndpoint):
    """RFC 7009, for a client's own access tokens. An unknown or malformed token is answered
    200 (§2.2); another client's token is refused with ``invalid_grant`` (§2.1) and stays
    valid."""

    CLIENT_AUTH_METHODS = [PRIVATE_KEY_JWT, CLIENT_SECRET_BASIC]
    SUPPORTED_TOKEN_TYPES = ("access_token",)

    def __init__(self, endpoints: Endpoints, keys: SigningKeys) -> None:
        super().__init__()
        self.endpoints = endpoints
        self.keys = keys

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return _token_row(token_string, self.keys, self.endpoints)

    def revoke_token(self, token: IssuedToken, request) -> None:  # type: ignore[no-untyped-def]
        if token.row.revoked_at is None:
            current().revoke_jti = token.row.jti


def commit_writes(request: TokenRequest, event: Event) -> Recheck:
    """The writes of one authorization-server request, made inside the commit that logs it
    (under the log's head lock, so no other request's writes interleave, on any node):

    - the client assertion's id is used up, allowed or not — and if another request used it
      since the snapshot, an allowed request is refused instead (RFC 7523 §3 item 7);
    - before a token is stored, its client is judged again (client and partner active, NDA in
      force): a revocation committed while the token was being made refuses it;
    - a revocation marks the token revoked.

    ``event`` is the request's log entry; returns the refusal to log and answer instead, or
    ``None``."""
    allowed = event.outcome is Outcome.ALLOWED

    def refused(rule: str) -> Event:
        request.rule = rule
        return dataclasses.replace(event, outcome=Outcome.DENIED, rule=rule, details={})

    def commit(connection: RawTransaction, shared: dict) -> Event | None:
        now = int(request.clock.now().timestamp())
        if request.assertion is not None:
            client_id, jti, expires_at = request.assertion
            key = {"client_id": client_id, "jti": jti}
            if _ASSERTION_USED.one_or_none(connection, key) is not None:
                if allowed:
                    return refused("client_assertion_unused")
            else:
                _USE_ASSERTION.execute(connection, {**key, "expires_at": expires_at}).close()
                if secrets.randbelow(_PURGE_ONE_IN) == 0:  # housekeeping, now and then
                    _PURGE_ASSERTIONS.execute(connection, {"now": now}).close()
        # The proof is used up allowed or not (as the assertion); a replay refuses the request.
        used_before = request.proof is not None and not dpop.use_up(connection, request.proof, now)
        if used_before and allowed:
            return refused(dpop.PROOF_UNUSED.name)
        if not allowed:
            return None
        if request.token_row is not None:
            decision = decide(client_facts(connection, request.token_row["client_id"],
                                           request.clock))  # fmt: skip
            if not decision.allowed:
                return refused(decision.rule.name)
            _INSERT_TOKEN.execute(connection, request.token_row).close()
        if request.revoke_jti is not None:
            _REVOKE_TOKEN.execute(connection, {"jti": request.revoke_jti, "at": now}).close()
        return None

    return commit


_ASSERTIONS = UsedAssertion.__table__
_ASSERTION_USED = Prepared(
    select(_ASSERTIONS.c.jti).where(
        _ASSERTIONS.c.client_id == bindparam("client_id"), _ASSERTIONS.c.jti == bindparam("jti")
    )
)
_USE_ASSERTION = Prepared(insert(_ASSERTIONS))
_PURGE_ASSERTIONS = Prepared(delete(_ASSERTIONS).where(_ASSERTIONS.c.expires_at < bindparam("now")))
_INSERT_TOKEN = Prepared(insert(AccessToken.__table__))
_REVOKE_TOKEN = Prepared(
    update(AccessToken.__table__)
    .where(
        AccessToken.__table__.c.jti == bindparam("jti"),
        AccessToken.__table__.c.revoked_at.is_(None),
    )  # fmt: skip
    .values(revoked_at=bindparam("at"))
)


def save_token(token: dict[str, Any], oauth_request) -> None:  # type: ignore[no-untyped-def]
    """Kept for the commit that logs the issuance (:func:`commit_writes`)."""
    request = current()
    claims = request.issued
    client: Client = oauth_request.client
    request.token_row = {
        "jti": claims["jti"],
        "client_id": client.get_client_id(),
        "partner_id": client.partner.id,
        "scope": claims["scope"],
        "issued_at": claims["iat"],
        "expires_at": claims["exp"],
        "revoked_at": None,
    }


class GatewayAuthorizationServer(AuthorizationServer):
    """Authlib's server, whose every error names the rule that failed (:func:`error_body`)."""

    def handle_error_response(self, request, error: OAuth2Error):  # type: ignore[no-untyped-def]
        token_request = current()
        # A rule of ours, named by the check that raised; else Authlib's error, by its code.
        token_request.refuse(_AUTHLIB_RULES.get(error.error, "request_valid"))
        body = error_body(token_request.rule, error.error, error.get_error_description() or "")
        error.description = body["error_description"]  # WWW-Authenticate repeats it (401)
        status, _, headers = error()
        return self.handle_response(status, body, headers)


def build_server(app: Flask, endpoints: Endpoints, keys: SigningKeys, lifetime: int,
                 published: ResellerKeys):  # type: ignore[no-untyped-def]  # fmt: skip
    server = GatewayAuthorizationServer()
    server.endpoints = endpoints  # for the grant's DPoP check (the token endpoint's URL)
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_token_generator("default", AccessTokenGenerator(endpoints, keys, lifetime))
    server.register_client_auth_method(CLIENT_SECRET_BASIC, authenticate_client_secret_basic)
    server.register_client_auth_method(PRIVATE_KEY_JWT, PrivateKeyJWT(endpoints, published))
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(TokenIntrospection(endpoints, keys))
    server.register_endpoint(TokenRevocation(endpoints, keys))
    return server
